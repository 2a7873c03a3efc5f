"""Connection dealing between a supervisor and its workers: the dealer evens the connections over the
ready workers that can take them, and a connection passed over a worker's channel is served by its ext_proc
server as if that server had accepted it."""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket

import grpc
import pytest
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc
from picker.server.ext_proc import ExternalProcessorService
from picker.server.grpc_server import GrpcServer
from picker.server.tls import self_signed_certificate, server_ssl_context
from picker.workers.connection_dealer import ConnectionDealer
from picker.workers.dealt_connections import serve_dealt_connections

from tests.picker.server.extproc_messages import completion_body, read, request_body, request_headers

TIMEOUT_S = 5.0


class RecordingWorker:
    def __init__(self, takes: bool = True, ready: bool = True) -> None:
        self.takes = takes
        self.ready = ready
        self.dealt = 0

    def deal(self, connection: socket.socket) -> bool:
        if self.takes:
            self.dealt += 1
        return self.takes


def test_connections_go_to_the_worker_dealt_the_fewest_that_takes_them(caplog: pytest.LogCaptureFixture) -> None:
    first, second, gone = RecordingWorker(), RecordingWorker(), RecordingWorker(takes=False)
    workers = [first, second, gone]
    with socket.socket() as listening, socket.socket() as connection:
        dealer = ConnectionDealer(listening, lambda: workers)
        second.dealt = 3  # e.g. the older of two workers: the new one catches up first
        assert all(dealer.deal(connection) for _ in range(7))
        assert (first.dealt, second.dealt, gone.dealt) == (5, 5, 0)
        first.takes = second.takes = False
        with caplog.at_level(logging.WARNING):
            assert not dealer.deal(connection) and not dealer.deal(connection)
        assert [record.message for record in caplog.records] == [
            "no worker is serving: closing new ext_proc connections until one is"
        ]  # once per stretch without a worker
        second.takes = True
        assert dealer.deal(connection) and second.dealt == 6


def test_a_worker_not_yet_ready_gets_connections_only_when_no_ready_one_takes_them() -> None:
    ready, restarted = RecordingWorker(), RecordingWorker(ready=False)
    ready.dealt = 10
    with socket.socket() as listening, socket.socket() as connection:
        dealer = ConnectionDealer(listening, lambda: [restarted, ready])
        assert dealer.deal(connection) and (ready.dealt, restarted.dealt) == (11, 0)
        ready.takes = False
        assert dealer.deal(connection) and restarted.dealt == 1


@pytest.mark.parametrize("tls", [False, True], ids=["plaintext", "tls"])
async def test_a_dealt_connection_is_served_by_the_workers_server(recording_director, tmp_path, tls: bool) -> None:
    now = datetime.datetime.now(datetime.UTC)
    certificate_pem, key_pem = self_signed_certificate(now)
    (tmp_path / "tls.crt").write_bytes(certificate_pem)
    (tmp_path / "tls.key").write_bytes(key_pem)
    server = GrpcServer([ExternalProcessorService(recording_director, new_request_id=lambda: "id")])
    # A worker binds no ext_proc port; the dealt connection gets the TLS it was started with.
    server.start_unbound(server_ssl_context(tmp_path, now) if tls else None)
    assert server.port == 0
    supervisor_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    serving = asyncio.create_task(serve_dealt_connections(worker_end, server))
    loop = asyncio.get_running_loop()
    with socket.socket() as public, supervisor_end, worker_end:
        public.bind(("127.0.0.1", 0))
        public.listen()
        public.setblocking(False)

        async def accept_and_deal() -> None:
            connection, _ = await loop.sock_accept(public)
            with connection:
                socket.send_fds(supervisor_end, [b"c"], [connection.fileno()])

        dealing = asyncio.create_task(accept_and_deal())
        try:
            target = f"127.0.0.1:{public.getsockname()[1]}"
            credentials = grpc.ssl_channel_credentials(root_certificates=certificate_pem)
            async with (
                grpc.aio.secure_channel(target, credentials, options=[("grpc.ssl_target_name_override", "localhost")])
                if tls
                else grpc.aio.insecure_channel(target)
            ) as channel:
                call = external_processor_pb2_grpc.ExternalProcessorStub(channel).Process()
                await call.write(request_headers())
                await call.write(request_body(completion_body(), end_of_stream=True))
                (answer, _) = await asyncio.wait_for(read(call, 2), TIMEOUT_S)
                assert answer.WhichOneof("response") == "request_headers"
                call.cancel()
            await asyncio.wait_for(dealing, TIMEOUT_S)
        finally:
            serving.cancel()
            await asyncio.gather(serving, dealing, return_exceptions=True)
            await server.stop(grace_s=None)
    assert "route" in recording_director.names()


async def test_a_failing_accept_is_logged_once_and_retried(monkeypatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr("picker.workers.connection_dealer.ACCEPT_RETRY_S", 0.001)
    with socket.socket() as not_listening:  # accept fails with EINVAL, as it would with EMFILE
        dealer = ConnectionDealer(not_listening, lambda: [])
        with caplog.at_level(logging.ERROR):
            running = asyncio.create_task(dealer.run())
            for _ in range(20):
                await asyncio.sleep(0.002)
            assert not running.done()  # still accepting (retrying), not crashed
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    failures = [record for record in caplog.records if "accepting ext_proc connections failed" in record.message]
    assert len(failures) == 1
