"""The ext_proc call served by message_call.py, seen on the wire by a plain h2 client: the answers to one
message in one DATA frame, and the call's ends (deadline, compression, half-close) as grpclib answered them.
Malformed calls still reach grpclib's own handler."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

from envoy.service.ext_proc.v3.external_processor_pb2 import ProcessingResponse
from extproc_messages import completion_body, request_body, request_headers
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import DataReceived, ResponseReceived, StreamEnded, StreamReset, TrailersReceived
from picker.server.ext_proc import PROCESS_METHOD, ExternalProcessorService
from picker.server.grpc_server import GrpcServer

TIMEOUT_S = 5.0
GRPC_HEADERS = [
    (":method", "POST"), (":scheme", "http"), (":path", PROCESS_METHOD), (":authority", "picker"),
    ("te", "trailers"), ("content-type", "application/grpc"),
]  # fmt: skip


def framed(message: bytes, compressed: bool = False) -> bytes:
    return struct.pack(">?I", compressed, len(message)) + message


@dataclass
class Exchange:
    """What the server sent on one stream."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    data_frames: list[bytes] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)
    reset: bool = False

    def messages(self) -> list[ProcessingResponse]:
        data, messages = b"".join(self.data_frames), []
        while data:
            (length,) = struct.unpack(">I", data[1:5])
            messages.append(ProcessingResponse.FromString(data[5 : 5 + length]))
            data = data[5 + length :]
        return messages


async def exchange(
    port: int,
    headers: list[tuple[str, str]],
    payloads: list[bytes],
    end_stream: bool = False,
    until_data_frames: int | None = None,
) -> Exchange:
    """One stream: send ``headers`` and ``payloads`` (one DATA frame each); read until the stream ends (or
    ``until_data_frames`` DATA frames arrived)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8"))
    client.initiate_connection()
    stream_id = client.get_next_available_stream_id()
    client.send_headers(stream_id, headers, end_stream=end_stream and not payloads)
    for index, payload in enumerate(payloads):
        client.send_data(stream_id, payload, end_stream=end_stream and index == len(payloads) - 1)
    writer.write(client.data_to_send())
    seen = Exchange()
    try:
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                data = await reader.read(65_536)
                assert data, "the server closed the connection"
                for event in client.receive_data(data):
                    if isinstance(event, ResponseReceived):
                        seen.headers = list(event.headers)
                    elif isinstance(event, DataReceived):
                        seen.data_frames.append(event.data)
                        client.acknowledge_received_data(event.flow_controlled_length, stream_id)
                    elif isinstance(event, TrailersReceived):
                        seen.trailers = dict(event.headers)
                    elif isinstance(event, StreamReset):
                        seen.reset = True
                    if isinstance(event, StreamEnded | StreamReset) or (
                        until_data_frames is not None and len(seen.data_frames) >= until_data_frames
                    ):
                        return seen
                writer.write(client.data_to_send())
    finally:
        writer.close()


def routed_request() -> list[bytes]:
    """Envoy's request headers and whole body: the picker routes and answers both."""
    body = request_body(completion_body(), end_of_stream=True).SerializeToString()
    return [framed(request_headers().SerializeToString()), framed(body)]


async def served(director) -> GrpcServer:
    server = GrpcServer([ExternalProcessorService(director, new_request_id=lambda: "id")])
    await server.start("127.0.0.1", 0, "--grpc-port")
    return server


async def test_the_answers_to_one_message_leave_in_one_data_frame(recording_director):
    server = await served(recording_director)
    try:
        seen = await exchange(server.port, GRPC_HEADERS, routed_request(), until_data_frames=1)
    finally:
        await server.stop(grace_s=None)
    assert seen.headers == [(":status", "200"), ("content-type", "application/grpc+proto")]
    assert len(seen.data_frames) == 1  # grpclib's Stream wrote one DATA frame per answer
    assert [answer.WhichOneof("response") for answer in seen.messages()] == [
        "request_headers",
        "request_body",
    ]


async def test_a_half_closed_call_ends_with_ok_trailers(recording_director):
    server = await served(recording_director)
    try:
        seen = await exchange(server.port, GRPC_HEADERS, routed_request(), end_stream=True)
    finally:
        await server.stop(grace_s=None)
    assert len(seen.messages()) == 2
    assert seen.trailers == {"grpc-status": "0"}
    assert not seen.reset
    assert recording_director.names() == ["route", "release"]


async def test_a_call_past_its_grpc_timeout_ends_with_deadline_exceeded_and_releases(recording_director):
    recording_director.route_gate = asyncio.Event()  # never set: only the deadline ends the call
    server = await served(recording_director)
    try:
        seen = await exchange(server.port, [*GRPC_HEADERS, ("grpc-timeout", "200m")], routed_request())
        assert server.open_calls == 0
    finally:
        await server.stop(grace_s=None)
    assert seen.headers[-1] == ("grpc-status", "4")  # trailers-only: nothing was answered yet
    assert recording_director.names() == ["route", "route_cancelled"]


async def test_a_compressed_message_is_refused_as_unimplemented(recording_director):
    server = await served(recording_director)
    try:
        seen = await exchange(
            server.port, GRPC_HEADERS, [framed(request_headers().SerializeToString(), compressed=True)]
        )
    finally:
        await server.stop(grace_s=None)
    assert ("grpc-status", "12") in seen.headers
    assert ("grpc-message", "compressed messages are not supported") in seen.headers
    assert recording_director.names() == []


async def test_a_call_without_a_grpc_content_type_is_refused_by_grpclib(recording_director):
    server = await served(recording_director)
    try:
        headers = [
            (name, "application/json" if name == "content-type" else value) for name, value in GRPC_HEADERS
        ]
        seen = await exchange(server.port, headers, [], end_stream=True)
    finally:
        await server.stop(grace_s=None)
    assert seen.headers[0] == (":status", "415")
    assert recording_director.names() == []


async def test_a_stream_that_ends_inside_a_message_is_an_internal_error(recording_director):
    server = await served(recording_director)
    try:
        whole = framed(request_headers().SerializeToString())
        seen = await exchange(server.port, GRPC_HEADERS, [whole[:-3]], end_stream=True)
    finally:
        await server.stop(grace_s=None)
    assert ("grpc-status", "13") in seen.headers  # trailers-only: nothing was answered
    assert recording_director.names() == []
