"""gRPC health for the picker (grpc.health.v1 on --grpc-health-port), with the EPP's service names:
NOT_SERVING until the datastore has synced the pool, SERVING after, NOT_SERVING again on shutdown."""

from __future__ import annotations

from collections.abc import Callable

from grpc_health.v1 import health, health_pb2

from picker.framework.clock import Clock

EXT_PROC_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"
OVERALL_SERVICE = ""  # the empty name: the server as a whole
LIVENESS_SERVICE = "liveness"
READINESS_SERVICE = "readiness"
CHART_PROBE_SERVICE = "inference-extension"  # the inferencepool chart's single-replica probe name

# Services that answer SERVING only once the pool is synced; liveness answers SERVING from the start.
READINESS_GATED_SERVICES = (OVERALL_SERVICE, EXT_PROC_SERVICE, READINESS_SERVICE, CHART_PROBE_SERVICE)


class PickerHealth:
    """Owns the health servicer and flips it to SERVING once ``is_synced()`` first returns True."""

    def __init__(self, is_synced: Callable[[], bool], clock: Clock, poll_interval_s: float = 0.05) -> None:
        self.servicer = health.aio.HealthServicer()
        self._is_synced = is_synced
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self.serving = False

    async def initialise(self) -> None:
        await self.servicer.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        for service in READINESS_GATED_SERVICES:
            await self.servicer.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)

    async def serve_when_synced(self) -> None:
        """Run until the pool is synced, then mark every readiness-gated service SERVING."""
        while not self._is_synced():
            await self._clock.sleep(self._poll_interval_s)
        for service in READINESS_GATED_SERVICES:
            await self.servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
        self.serving = True

    async def shut_down(self) -> None:
        """Every service NOT_SERVING, so gateways stop sending new streams while existing ones drain."""
        await self.servicer.enter_graceful_shutdown()
        self.serving = False
