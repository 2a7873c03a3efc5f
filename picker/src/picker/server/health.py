"""gRPC health for the picker (grpc.health.v1 on --grpc-health-port), with the EPP's service names:
NOT_SERVING until the datastore has synced the pool, SERVING after, NOT_SERVING again on shutdown."""

from __future__ import annotations

from collections.abc import Callable

from picker.framework.clock import Clock
from picker.server.health_service import NOT_SERVING, SERVING, HealthService

EXT_PROC_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"
OVERALL_SERVICE = ""  # the empty name: the server as a whole
LIVENESS_SERVICE = "liveness"
READINESS_SERVICE = "readiness"
CHART_PROBE_SERVICE = "inference-extension"  # the inferencepool chart's single-replica probe name

# Services that answer SERVING only once the pool is synced; liveness answers SERVING from the start.
READINESS_GATED_SERVICES = (OVERALL_SERVICE, EXT_PROC_SERVICE, READINESS_SERVICE, CHART_PROBE_SERVICE)


class PickerHealth:
    """Owns the health service (served on both ports) and flips it to SERVING once ``is_synced()``."""

    def __init__(self, is_synced: Callable[[], bool], clock: Clock, poll_interval_s: float = 0.05) -> None:
        self.servicer = HealthService()
        self._is_synced = is_synced
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self.serving = False
        self.servicer.set(LIVENESS_SERVICE, SERVING)
        for service in READINESS_GATED_SERVICES:
            self.servicer.set(service, NOT_SERVING)

    async def serve_when_synced(self) -> None:
        """Run until the pool is synced, then mark every readiness-gated service SERVING."""
        while not self._is_synced():
            await self._clock.sleep(self._poll_interval_s)
        for service in READINESS_GATED_SERVICES:
            self.servicer.set(service, SERVING)
        self.serving = True

    def shut_down(self) -> None:
        """Every service NOT_SERVING, so gateways stop sending new streams while existing ones drain."""
        self.servicer.enter_graceful_shutdown()
        self.serving = False
