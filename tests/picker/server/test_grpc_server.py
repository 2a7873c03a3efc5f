"""GrpcServer, the picker's grpclib transport: binding, the message-size limit and the graceful drain,
exercised with a grpcio client (an independent gRPC implementation) over 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime
import socket

import grpc
import pytest
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc
from extproc_messages import completion_body, read, request_body, request_headers
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import RemoteSettingsChanged
from h2.settings import SettingCodes
from picker.server.ext_proc import ExternalProcessorService
from picker.server.grpc_server import GrpcServer, PortBindError
from picker.server.tls import self_signed_certificate, server_ssl_context

TIMEOUT_S = 5.0


def ext_proc_server(director, **kwargs) -> GrpcServer:
    return GrpcServer([ExternalProcessorService(director, new_request_id=lambda: "id")], **kwargs)


async def wait_until(condition, timeout_s: float = TIMEOUT_S) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


async def test_port_zero_binds_a_free_port_and_a_second_server_cannot_share_it(recording_director):
    first = ext_proc_server(recording_director)
    port = await first.start("127.0.0.1", 0, "--grpc-port")
    try:
        assert port > 0 and first.port == port
        second = ext_proc_server(recording_director)
        with pytest.raises(PortBindError, match=rf"--grpc-port: cannot listen on 127\.0\.0\.1:{port}"):
            await second.start("127.0.0.1", port, "--grpc-port")
    finally:
        await first.stop(grace_s=None)


async def test_a_port_taken_by_another_socket_names_the_flag(recording_director):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = ext_proc_server(recording_director)
        with pytest.raises(PortBindError, match="--grpc-health-port"):
            await server.start("127.0.0.1", taken.getsockname()[1], "--grpc-health-port")


async def test_an_address_that_is_not_local_names_the_flag(recording_director):
    server = ext_proc_server(recording_director)
    with pytest.raises(PortBindError, match=r"--grpc-port: cannot listen on 192\.0\.2\.1"):
        await server.start("192.0.2.1", 0, "--grpc-port")  # TEST-NET-1: never a local address


async def test_a_message_over_the_limit_is_refused_with_resource_exhausted(recording_director):
    server = ext_proc_server(recording_director, max_message_bytes=10_000)
    port = await server.start("127.0.0.1", 0, "--grpc-port")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = external_processor_pb2_grpc.ExternalProcessorStub(channel).Process()
            await call.write(request_headers())
            await call.write(request_body(b"x" * 20_000, end_of_stream=True))
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await asyncio.wait_for(call.read(), TIMEOUT_S)
        assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        message_bytes = request_body(b"x" * 20_000, end_of_stream=True).ByteSize()
        assert f"{message_bytes} bytes exceeds the 10000-byte message limit" in raised.value.details()
    finally:
        await server.stop(grace_s=None)
    # The stream ended before routing; nothing was routed, so nothing needed releasing.
    assert recording_director.names() == []


async def test_a_body_larger_than_the_http2_window_passes_the_default_limit(recording_director):
    body = completion_body(prompt="p" * 6_000_000)  # > grpclib's 4 MiB window: read as it is acknowledged
    server = ext_proc_server(recording_director)
    port = await server.start("127.0.0.1", 0, "--grpc-port")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = external_processor_pb2_grpc.ExternalProcessorStub(channel).Process()
            await call.write(request_headers())
            await call.write(request_body(body, end_of_stream=True))  # one message, as BUFFERED sends it
            (headers_answer,) = await read(call, 1)
            call.cancel()
        assert headers_answer.WhichOneof("response") == "request_headers"
    finally:
        await server.stop(grace_s=None)


async def test_stop_refuses_new_calls_and_lets_an_open_one_finish_within_the_grace(recording_director):
    recording_director.route_gate = asyncio.Event()
    server = ext_proc_server(recording_director)
    port = await server.start("127.0.0.1", 0, "--grpc-port")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = external_processor_pb2_grpc.ExternalProcessorStub(channel)
        open_call = stub.Process()
        await open_call.write(request_headers())
        await open_call.write(request_body(completion_body(), end_of_stream=True))
        await wait_until(lambda: "route" in recording_director.names())
        stopping = asyncio.create_task(server.stop(grace_s=TIMEOUT_S))
        await wait_until(lambda: server._stopping)

        late_call = stub.Process()  # refused on its headers, before any message is written
        assert await asyncio.wait_for(late_call.code(), TIMEOUT_S) is grpc.StatusCode.UNAVAILABLE
        assert await late_call.details() == "the picker is shutting down"
        assert not stopping.done()  # still draining the open call

        recording_director.route_gate.set()
        (headers_answer, _) = await read(open_call, 2)
        await open_call.done_writing()
        await asyncio.wait_for(stopping, TIMEOUT_S)
    assert headers_answer.WhichOneof("response") == "request_headers"
    assert recording_director.names() == ["route", "release"]


async def test_after_the_grace_an_open_call_is_cancelled(recording_director):
    recording_director.route_gate = asyncio.Event()  # never set: the call cannot finish by itself
    server = ext_proc_server(recording_director)
    port = await server.start("127.0.0.1", 0, "--grpc-port")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = external_processor_pb2_grpc.ExternalProcessorStub(channel).Process()
        await call.write(request_headers())
        await call.write(request_body(completion_body(), end_of_stream=True))
        await wait_until(lambda: "route" in recording_director.names())
        await asyncio.wait_for(server.stop(grace_s=0.2), TIMEOUT_S)
        assert server.open_calls == 0
        call.cancel()
    assert recording_director.names() == ["route", "route_cancelled"]


async def test_a_client_cancel_ends_the_handler(recording_director):
    recording_director.route_gate = asyncio.Event()
    server = ext_proc_server(recording_director)
    port = await server.start("127.0.0.1", 0, "--grpc-port")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = external_processor_pb2_grpc.ExternalProcessorStub(channel).Process()
            await call.write(request_headers())
            await call.write(request_body(completion_body(), end_of_stream=True))
            await wait_until(lambda: "route" in recording_director.names())
            call.cancel()
            await wait_until(lambda: server.open_calls == 0)
        assert "route_cancelled" in recording_director.names()
    finally:
        await server.stop(grace_s=None)


async def test_tls_with_alpn_h2_end_to_end(recording_director, tmp_path):
    now = datetime.datetime.now(datetime.UTC)
    certificate_pem, key_pem = self_signed_certificate(now)
    (tmp_path / "tls.crt").write_bytes(certificate_pem)
    (tmp_path / "tls.key").write_bytes(key_pem)
    server = ext_proc_server(recording_director)
    port = await server.start("127.0.0.1", 0, "--grpc-port", server_ssl_context(tmp_path, now))
    credentials = grpc.ssl_channel_credentials(root_certificates=certificate_pem)
    options = [("grpc.ssl_target_name_override", "localhost")]
    try:
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials, options=options) as channel:
            call = external_processor_pb2_grpc.ExternalProcessorStub(channel).Process()
            await call.write(request_headers())
            await call.write(request_body(completion_body(), end_of_stream=True))
            answers = await read(call, 2)
            await call.done_writing()
            assert await call.read() == grpc.aio.EOF
    finally:
        await server.stop(grace_s=None)
    assert [answer.WhichOneof("response") for answer in answers] == ["request_headers", "request_body"]
    assert recording_director.names() == ["route", "release"]


async def test_the_first_settings_frame_lifts_the_concurrent_stream_limit(recording_director):
    """Envoy keeps the first SETTINGS' MAX_CONCURRENT_STREAMS as the connection's capacity: it must not be
    h2's default of 100, or Envoy opens extra connections under load (and fails requests queued on them)."""
    server = ext_proc_server(recording_director)
    port = await server.start("127.0.0.1", 0, "--grpc-port")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        client = H2Connection(H2Configuration(client_side=True))
        client.initiate_connection()
        writer.write(client.data_to_send())
        await writer.drain()
        first_settings = None
        async with asyncio.timeout(TIMEOUT_S):
            while first_settings is None:
                for event in client.receive_data(await reader.read(65_536)):
                    if isinstance(event, RemoteSettingsChanged) and first_settings is None:
                        first_settings = event.changed_settings
    finally:
        writer.close()
        await server.stop(grace_s=None)
    assert first_settings[SettingCodes.MAX_CONCURRENT_STREAMS].new_value == 2**31 - 1


async def test_more_than_a_hundred_streams_share_one_connection(recording_director):
    recording_director.route_gate = asyncio.Event()  # every stream stays open until all have been routed
    server = ext_proc_server(recording_director)
    port = await server.start("127.0.0.1", 0, "--grpc-port")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = external_processor_pb2_grpc.ExternalProcessorStub(channel)
            calls = [stub.Process() for _ in range(150)]
            for call in calls:
                await call.write(request_headers())
                await call.write(request_body(completion_body(), end_of_stream=True))
            await wait_until(lambda: recording_director.names().count("route") == 150)
            assert server.open_calls == 150
            recording_director.route_gate.set()
            for call in calls:
                (headers_answer, _) = await read(call, 2)
                assert headers_answer.WhichOneof("response") == "request_headers"
                call.cancel()
    finally:
        await server.stop(grace_s=None)


async def test_an_unbound_server_serves_handed_over_connections_and_stops_with_a_call_open(recording_director):
    """A worker's server: no listening socket of its own; its supervisor accepted the connection."""
    recording_director.route_gate = asyncio.Event()  # never set: the call cannot finish by itself
    server = ext_proc_server(recording_director)
    server.start_unbound()
    loop = asyncio.get_running_loop()
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        listening.setblocking(False)

        async def accept_and_hand_over() -> None:
            connection, _ = await loop.sock_accept(listening)
            await server.serve_accepted(connection)

        handing_over = asyncio.create_task(accept_and_hand_over())
        async with grpc.aio.insecure_channel(f"127.0.0.1:{listening.getsockname()[1]}") as channel:
            call = external_processor_pb2_grpc.ExternalProcessorStub(channel).Process()
            await call.write(request_headers())
            await call.write(request_body(completion_body(), end_of_stream=True))
            await wait_until(lambda: "route" in recording_director.names())
            await asyncio.wait_for(handing_over, TIMEOUT_S)
            await asyncio.wait_for(server.stop(grace_s=0.05), TIMEOUT_S)
            assert server.open_calls == 0
            call.cancel()
    assert server.port == 0
    assert recording_director.names() == ["route", "route_cancelled"]
