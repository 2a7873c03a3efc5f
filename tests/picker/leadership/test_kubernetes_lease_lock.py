"""KubernetesLeaseLock through kubernetes-asyncio against the fake Lease API (real HTTP, a kubeconfig
as --kubeconfig takes it): missing -> None, create, compare-and-swap, 409 -> LeaseConflict."""

from __future__ import annotations

import datetime

import pytest
from picker.kubernetes_api import kubernetes_api_client
from picker.leadership.kubernetes_lease_lock import KubernetesLeaseLock
from picker.leadership.lease_lock import LeaseConflict
from picker.leadership.lease_record import LeaseRecord

from infgw.local.lease_api import FakeLeaseApi

NOW = datetime.datetime(2026, 12, 7, 11, 0, 0, 123456, tzinfo=datetime.UTC)


async def test_lease_round_trip_and_conflicts(tmp_path) -> None:
    async with FakeLeaseApi() as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        async with kubernetes_api_client(kubeconfig) as api:
            lock = KubernetesLeaseLock(api, "ns", "epp-ns-pool.llm-d.ai")
            assert await lock.get() is None
            created = await lock.create(LeaseRecord("a", 15, NOW, NOW, 0))
            assert created.resource_version
            assert (created.holder_identity, created.renew_time) == ("a", NOW)
            with pytest.raises(LeaseConflict):
                await lock.create(LeaseRecord("b", 15, NOW, NOW, 0))
            later = NOW + datetime.timedelta(seconds=2)
            renewed = await lock.update(LeaseRecord("a", 15, NOW, later, 0, created.resource_version))
            assert renewed.renew_time == later and renewed.resource_version != created.resource_version
            with pytest.raises(LeaseConflict):
                await lock.update(LeaseRecord("b", 15, NOW, later, 1, created.resource_version))
            assert await lock.get() == renewed
        stored = server.lease("ns", "epp-ns-pool.llm-d.ai")
        assert stored is not None
        assert stored["spec"]["renewTime"] == "2026-12-07T11:00:02.123456Z"
