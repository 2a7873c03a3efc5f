"""PickerApp: the ext_proc (TLS), health and metrics servers around a runtime, and graceful shutdown."""

from __future__ import annotations

import asyncio
import datetime
import ssl

import aiohttp
import grpc
import pytest
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc
from extproc_messages_for_app import completion_request
from grpc_health.v1 import health_pb2, health_pb2_grpc
from picker.app import PickerApp
from picker.framework.clock import RealClock
from picker.options import PickerOptions
from picker.server.tls import CertificateError, self_signed_certificate
from prometheus_client import CollectorRegistry, Counter

HEADERS_AND_BODY_TIMEOUT_S = 5.0


class FakeRuntime:
    """A PickerRuntime whose sync state the test flips, with a registry holding one known counter."""

    def __init__(self, director) -> None:
        self.director = director
        self.registry = CollectorRegistry()
        self.requests_counter = Counter("picker_test_requests", "test counter", registry=self.registry)
        self.synced = False
        self.run_cancelled = False

    def is_synced(self) -> bool:
        return self.synced

    async def run(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.run_cancelled = True
            raise


def local_options(**overrides) -> PickerOptions:
    values = dict(
        endpoints_file="unused.yaml",
        bind_address="127.0.0.1",
        grpc_port=0,
        grpc_health_port=0,
        metrics_port=0,
    )
    values.update(overrides)
    return PickerOptions(**values)


class FakeLeadership:
    """Leadership the test hands out and takes back; records that stopping cancelled (released) it."""

    def __init__(self) -> None:
        self.is_leader = False
        self.released = False

    async def run(self) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            self.is_leader = False
            self.released = True


@pytest.fixture
async def started(recording_director):
    apps = []

    async def start(runtime=None, leadership=None, **overrides):
        runtime = runtime or FakeRuntime(recording_director)
        app = PickerApp(local_options(**overrides), runtime, RealClock(), leadership)
        await app.start()
        apps.append(app)
        return app, runtime

    yield start
    for app in apps:
        await app.stop(grace_s=0)


async def health_status(port: int, service: str) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return response.status


async def wait_for_status(port: int, service: str, status: int) -> None:
    async with asyncio.timeout(5):
        while await health_status(port, service) != status:
            await asyncio.sleep(0.02)


async def test_health_is_not_serving_until_synced_then_serving_with_the_epp_names(started):
    app, runtime = await started(secure_serving=False)
    for service in ("", "envoy.service.ext_proc.v3.ExternalProcessor", "inference-extension", "readiness"):
        assert (
            await health_status(app.grpc_health_port, service) == health_pb2.HealthCheckResponse.NOT_SERVING
        )
    assert await health_status(app.grpc_health_port, "liveness") == health_pb2.HealthCheckResponse.SERVING
    runtime.synced = True
    for service in ("", "envoy.service.ext_proc.v3.ExternalProcessor", "inference-extension", "readiness"):
        await wait_for_status(app.grpc_health_port, service, health_pb2.HealthCheckResponse.SERVING)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await health_status(app.grpc_health_port, "no-such-service")
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND


READINESS_GATED = ("", "envoy.service.ext_proc.v3.ExternalProcessor", "inference-extension", "readiness")


async def test_with_leader_election_only_the_leader_reports_ready_and_liveness_stays_serving(started):
    leadership = FakeLeadership()
    app, runtime = await started(leadership=leadership, secure_serving=False)
    runtime.synced = True  # a follower's datastore is warm...
    await asyncio.sleep(0.2)
    for service in READINESS_GATED:  # ...but it does not advertise itself
        assert (
            await health_status(app.grpc_health_port, service) == health_pb2.HealthCheckResponse.NOT_SERVING
        )
    assert await health_status(app.grpc_health_port, "liveness") == health_pb2.HealthCheckResponse.SERVING
    leadership.is_leader = True  # elected: ready without a restart
    for service in READINESS_GATED:
        await wait_for_status(app.grpc_health_port, service, health_pb2.HealthCheckResponse.SERVING)
    leadership.is_leader = False  # stepped down
    for service in READINESS_GATED:
        await wait_for_status(app.grpc_health_port, service, health_pb2.HealthCheckResponse.NOT_SERVING)
    assert await health_status(app.grpc_health_port, "liveness") == health_pb2.HealthCheckResponse.SERVING
    assert await health_status(app.grpc_port, "readiness") == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_a_leader_that_is_not_synced_is_not_ready(started):
    leadership = FakeLeadership()
    leadership.is_leader = True
    app, _ = await started(leadership=leadership, secure_serving=False)
    await asyncio.sleep(0.2)
    assert (
        await health_status(app.grpc_health_port, "readiness") == health_pb2.HealthCheckResponse.NOT_SERVING
    )


async def test_stopping_hands_leadership_over(started):
    leadership = FakeLeadership()
    app, runtime = await started(leadership=leadership, secure_serving=False)
    runtime.synced = leadership.is_leader = True
    await wait_for_status(app.grpc_health_port, "readiness", health_pb2.HealthCheckResponse.SERVING)
    await app.stop(grace_s=0)
    assert leadership.released and not leadership.is_leader


async def test_self_signed_tls_is_served_by_default(started):
    app, _ = await started()
    certificate_pem = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", app.grpc_port))
    assert "BEGIN CERTIFICATE" in certificate_pem


async def test_cert_path_certificate_is_served_and_a_trusting_client_completes_a_stream(
    started, recording_director, tmp_path
):
    certificate_pem, key_pem = self_signed_certificate(datetime.datetime.now(datetime.UTC))
    (tmp_path / "tls.crt").write_bytes(certificate_pem)
    (tmp_path / "tls.key").write_bytes(key_pem)
    app, _ = await started(cert_path=tmp_path)
    credentials = grpc.ssl_channel_credentials(root_certificates=certificate_pem)
    async with grpc.aio.secure_channel(
        f"127.0.0.1:{app.grpc_port}", credentials, options=[("grpc.ssl_target_name_override", "localhost")]
    ) as channel:
        call = external_processor_pb2_grpc.ExternalProcessorStub(channel).Process()
        for message in completion_request():
            await call.write(message)
        answer = await asyncio.wait_for(call.read(), HEADERS_AND_BODY_TIMEOUT_S)
        await call.done_writing()
    assert answer.WhichOneof("response") == "request_headers"
    assert recording_director.names()[0] == "route"


async def test_metrics_endpoint_serves_the_runtime_registry(started):
    app, runtime = await started(secure_serving=False)
    runtime.requests_counter.inc(3)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{app.metrics_port}/metrics") as response:
            text = await response.text()
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
    assert "picker_test_requests_total 3.0" in text


async def test_metrics_bearer_token_is_required_when_a_token_file_is_set(started, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    app, _ = await started(
        secure_serving=False, metrics_endpoint_auth=True, metrics_auth_token_file=token_file
    )
    url = f"http://127.0.0.1:{app.metrics_port}/metrics"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        async with session.get(url, headers={"Authorization": "Bearer wrong"}) as response:
            assert response.status == 403
        async with session.get(url, headers={"Authorization": "Bearer s3cret"}) as response:
            assert response.status == 200
        token_file.write_text("rotated")  # re-read per scrape: rotation needs no restart
        async with session.get(url, headers={"Authorization": "Bearer rotated"}) as response:
            assert response.status == 200


async def test_stop_drains_an_open_stream_then_stops_the_runtime(recording_director):
    recording_director.route_gate = asyncio.Event()
    runtime = FakeRuntime(recording_director)
    runtime.synced = True
    app = PickerApp(local_options(secure_serving=False), runtime, RealClock())
    await app.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        call = external_processor_pb2_grpc.ExternalProcessorStub(channel).Process()
        for message in completion_request():
            await call.write(message)
        async with asyncio.timeout(5):
            while "route" not in recording_director.names():
                await asyncio.sleep(0.01)
        stopping = asyncio.create_task(app.stop(grace_s=5))
        await wait_for_status(app.grpc_health_port, "", health_pb2.HealthCheckResponse.NOT_SERVING)
        recording_director.route_gate.set()  # the open stream finishes within the grace period
        answer = await asyncio.wait_for(call.read(), HEADERS_AND_BODY_TIMEOUT_S)
        assert answer.WhichOneof("response") == "request_headers"
        await call.done_writing()
        await asyncio.wait_for(stopping, 10)
    assert runtime.run_cancelled
    assert recording_director.names()[-1] == "release"


async def test_a_bad_cert_path_fails_at_start_naming_the_files(recording_director, tmp_path):
    app = PickerApp(local_options(cert_path=tmp_path), FakeRuntime(recording_director), RealClock())
    with pytest.raises(CertificateError, match=r"tls\.crt"):
        await app.start()


async def test_a_taken_port_fails_the_start_naming_the_flag_and_leaves_nothing_running(recording_director):
    import socket

    from picker.app import PortBindError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        runtime = FakeRuntime(recording_director)
        app = PickerApp(local_options(secure_serving=False, grpc_health_port=port), runtime, RealClock())
        with pytest.raises(PortBindError, match="--grpc-health-port"):
            await app.start()
    assert app._tasks == []


async def test_a_failing_runtime_stops_the_app_with_the_cause(recording_director):
    class BrokenDiscovery(FakeRuntime):
        async def run(self) -> None:
            raise ConnectionError("API server unreachable")

    app = PickerApp(local_options(secure_serving=False), BrokenDiscovery(recording_director), RealClock())
    with pytest.raises(RuntimeError, match="ConnectionError: API server unreachable"):
        await asyncio.wait_for(app.run_until_signalled(), 10)


async def test_health_is_also_served_on_the_ext_proc_port(started):
    app, runtime = await started(secure_serving=False)
    runtime.synced = True
    await wait_for_status(
        app.grpc_port, "envoy.service.ext_proc.v3.ExternalProcessor", health_pb2.HealthCheckResponse.SERVING
    )
