"""The picker process's elector: the EPP's Lease name, the pod's identity, the flags' timings."""

from __future__ import annotations

import contextlib
import datetime
import random
import socket
import uuid
from collections.abc import AsyncIterator, Mapping

from picker.framework.clock import Clock
from picker.kubernetes_api import kubernetes_api_client
from picker.leadership.kubernetes_lease_lock import KubernetesLeaseLock
from picker.leadership.leader_elector import LeaderElector, LeaseTimings
from picker.options import PickerOptions


def holder_identity(environ: Mapping[str, str]) -> str:
    """``$POD_NAME`` (Downward API), else hostname plus a random suffix (as controller-runtime)."""
    return environ.get("POD_NAME", "") or f"{socket.gethostname()}_{uuid.uuid4()}"


@contextlib.asynccontextmanager
async def open_leader_elector(
    options: PickerOptions, clock: Clock, environ: Mapping[str, str]
) -> AsyncIterator[LeaderElector]:
    """An elector for this picker's Lease, with its API client closed on exit."""
    identity = holder_identity(environ)
    async with kubernetes_api_client(options.kubeconfig) as api:
        yield LeaderElector(
            KubernetesLeaseLock(api, options.resolved_pool_namespace(environ), options.lease_name(environ)),
            identity,
            LeaseTimings(options.ha_lease_duration_s, options.ha_renew_deadline_s, options.ha_retry_period_s),
            clock,
            lambda: datetime.datetime.now(datetime.UTC),
            random.Random(f"{options.seed}:{identity}"),  # replicas jitter apart
        )
