"""Envoy as a launcher child: ready on OS-chosen ports (read back from its admin API), stopped and reaped,
with and without an event loop; a bootstrap Envoy rejects fails the start with Envoy's own words."""

from __future__ import annotations

import pytest

from infgw.envoy import EnvoyBootstrapSpec, EnvoyError, build_bootstrap
from infgw.launch.envoy_process import EnvoyProcess

pytestmark = pytest.mark.integration

POOL = ("127.0.0.1:8001", "127.0.0.1:8002")


def test_starts_on_free_ports_and_stops() -> None:
    with EnvoyProcess(build_bootstrap(EnvoyBootstrapSpec(endpoints=POOL))) as envoy:
        assert envoy.listener_port > 0
        assert envoy.admin_url.startswith("http://127.0.0.1:")
        assert envoy.child.running
    assert envoy.child.returncode is not None


async def test_async_with_starts_and_stops() -> None:
    async with EnvoyProcess(build_bootstrap(EnvoyBootstrapSpec(endpoints=POOL))) as envoy:
        assert envoy.listener_port > 0 and envoy.child.running
    assert envoy.child.returncode is not None


def test_a_bootstrap_envoy_rejects_is_an_envoy_error_with_its_log() -> None:
    bootstrap = build_bootstrap(EnvoyBootstrapSpec(endpoints=POOL))
    bootstrap["static_resources"]["clusters"][0]["connect_timeout"] = "not a duration"
    envoy = EnvoyProcess(bootstrap)
    with pytest.raises(EnvoyError, match="exited with code"):
        envoy.start()
    assert envoy.child.returncode is not None
