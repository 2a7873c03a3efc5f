"""gRPC health for the picker (grpc.health.v1 on --grpc-health-port), with the EPP's service names.

Readiness is decided here and only here: the readiness-gated services answer SERVING while the
datastore has synced the pool *and* this replica may serve (always, or, with leader election, while it
holds the Lease), NOT_SERVING otherwise, and NOT_SERVING for good once shutdown starts. ``liveness``
answers SERVING throughout: a follower is healthy and must not be restarted.
"""

from __future__ import annotations

from collections.abc import Callable

from picker.framework.clock import Clock
from picker.server.health_service import NOT_SERVING, SERVING, HealthService

EXT_PROC_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"
OVERALL_SERVICE = ""  # the empty name: the server as a whole
LIVENESS_SERVICE = "liveness"
READINESS_SERVICE = "readiness"
CHART_PROBE_SERVICE = "inference-extension"  # the inferencepool chart's single-replica probe name

# Services that answer SERVING only while the picker is ready; liveness answers SERVING from the start.
READINESS_GATED_SERVICES = (OVERALL_SERVICE, EXT_PROC_SERVICE, READINESS_SERVICE, CHART_PROBE_SERVICE)


def _always() -> bool:
    return True


class PickerHealth:
    """Owns the health service (served on both ports) and keeps it in step with readiness."""

    def __init__(
        self,
        is_synced: Callable[[], bool],
        clock: Clock,
        poll_interval_s: float = 0.05,
        is_leader: Callable[[], bool] = _always,
    ) -> None:
        self.servicer = HealthService()
        self._is_synced = is_synced
        self._is_leader = is_leader
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._listeners: list[Callable[[bool], None]] = []
        self._shut_down = False
        self.serving = False
        self.servicer.set(LIVENESS_SERVICE, SERVING)
        for service in READINESS_GATED_SERVICES:
            self.servicer.set(service, NOT_SERVING)

    def is_ready(self) -> bool:
        """Synced and allowed to serve (the leader, when leader election is on)."""
        return self._is_synced() and self._is_leader()

    async def track_readiness(self) -> None:
        """Until cancelled: flip every readiness-gated service when :meth:`is_ready` changes."""
        while True:
            ready = self.is_ready() and not self._shut_down
            if ready != self.serving:
                for service in READINESS_GATED_SERVICES:
                    self.servicer.set(service, SERVING if ready else NOT_SERVING)
                self._set_serving(ready)
            await self._clock.sleep(self._poll_interval_s)

    def subscribe(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener`` with the readiness now and at every change (a worker reports it to its
        supervisor this way, instead of polling ``serving`` on a timer of its own)."""
        self._listeners.append(listener)
        listener(self.serving)

    def _set_serving(self, ready: bool) -> None:
        if ready == self.serving:
            return
        self.serving = ready
        for listener in self._listeners:
            listener(ready)

    def shut_down(self) -> None:
        """Every service NOT_SERVING, so gateways stop sending new streams while existing ones drain."""
        self.servicer.enter_graceful_shutdown()
        self._shut_down = True
        self._set_serving(False)
