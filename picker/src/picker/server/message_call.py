"""A bidirectional-streaming gRPC call served straight on grpclib's HTTP/2 stream: the ext_proc path.

grpclib's server ``Stream`` runs several layers per message that an ext_proc stream never uses: an event
dispatch (``await``) for every message, the initial metadata and the trailers, a metadata multidict, a
deadline or cancellation wrapper per call, a codec object, per-message statistics, and one HTTP/2 DATA
frame per answer. At one request in flight that is most of the gRPC layer's CPU, on the critical path of
every ext_proc round trip (docs/picker.md, Transport). ``MessageCall`` keeps the wire behaviour (gRPC
length-prefixed protobuf messages, the same response headers, trailers and error statuses as grpclib) and
drops the layers: ``recv_message`` reads one message from the stream's buffer, ``send_messages`` sends all
the answers of one ext_proc message in one DATA frame (split only at the peer's maximum frame size), and
``serve_message_call`` ends the call as grpclib does (trailers with the status; an error status also resets
the stream), or sends nothing when the client reset the stream (Envoy does after every response).

grpclib still parses HTTP/2, keeps flow control and refuses malformed calls (``GrpcServer`` hands over only
well-formed POSTs with a gRPC content type and ``te: trailers``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

import h2.exceptions
from grpclib.const import Status
from grpclib.encoding.base import GRPC_CONTENT_TYPE
from grpclib.exceptions import GRPCError
from grpclib.metadata import Deadline, encode_grpc_message
from grpclib.protocol import Stream as H2Stream

logger = logging.getLogger(__name__)

Received = TypeVar("Received")
Received_co = TypeVar("Received_co", covariant=True)
Sent_contra = TypeVar("Sent_contra", contravariant=True)

_PREFIX_BYTES = 5  # compressed flag (1 byte) + message length (4 bytes, big-endian)
_RESPONSE_HEADERS = [(":status", "200"), ("content-type", f"{GRPC_CONTENT_TYPE}+proto")]


class ProtoMessage(Protocol):
    def SerializeToString(self) -> bytes: ...


class MessageStream(Protocol[Received_co, Sent_contra]):
    """What a bidirectional-streaming handler served by ``serve_message_call`` may use."""

    async def recv_message(self) -> Received_co | None:
        """The next message; None once the client has half-closed."""
        ...

    async def send_messages(self, messages: Sequence[Sent_contra]) -> None:
        """Send ``messages`` in order (one write); nothing for an empty sequence."""
        ...


MessageHandler = Callable[[Any], Awaitable[None]]


class MessageCall(Generic[Received]):
    """One call's messages: length-prefixed protobuf on grpclib's HTTP/2 ``Stream``, at most
    ``max_message_bytes`` each way (RESOURCE_EXHAUSTED beyond, as grpcio's limits)."""

    __slots__ = ("_headers_sent", "_max_message_bytes", "_parse", "_stream")

    def __init__(self, stream: H2Stream, received_type: Any, max_message_bytes: int) -> None:
        self._stream = stream
        self._parse: Callable[[bytes], Received] = received_type.FromString
        self._max_message_bytes = max_message_bytes
        self._headers_sent = False

    @property
    def headers_sent(self) -> bool:
        return self._headers_sent

    async def recv_message(self) -> Received | None:
        prefix = await self._read(_PREFIX_BYTES)
        if not prefix:
            return None
        if prefix[0]:
            raise GRPCError(Status.UNIMPLEMENTED, "compressed messages are not supported")
        length = int.from_bytes(prefix[1:], "big")
        if length > self._max_message_bytes:
            raise GRPCError(
                Status.RESOURCE_EXHAUSTED,
                f"request of {length} bytes exceeds the {self._max_message_bytes}-byte message limit",
            )
        data = await self._read(length) if length else b""
        if len(data) != length:
            raise GRPCError(Status.INTERNAL, "the stream ended inside a message")
        return self._parse(data)

    async def _read(self, size: int) -> bytes:
        """``size`` bytes; none when the client ended the stream before any of them."""
        try:
            return await self._stream.recv_data(size)
        except AssertionError:  # grpclib's buffer: the stream ended with only part of them received
            raise GRPCError(Status.INTERNAL, "the stream ended inside a message") from None

    async def send_messages(self, messages: Sequence[ProtoMessage]) -> None:
        if not messages:
            return
        framed = bytearray()
        for message in messages:
            data = message.SerializeToString()
            if len(data) > self._max_message_bytes:
                raise GRPCError(
                    Status.RESOURCE_EXHAUSTED,
                    f"response of {len(data)} bytes exceeds the {self._max_message_bytes}-byte message limit",
                )
            framed += b"\x00"
            framed += len(data).to_bytes(4, "big")
            framed += data
        if not self._headers_sent:
            await self._stream.send_headers(_RESPONSE_HEADERS)
            self._headers_sent = True
        await self._stream.send_data(bytes(framed))

    async def end(self, status: Status, message: str | None) -> None:
        """Trailers with ``status`` (trailers-only when nothing was sent); an error also resets the stream."""
        trailers = [] if self._headers_sent else list(_RESPONSE_HEADERS)
        trailers.append(("grpc-status", str(status.value)))
        if message is not None:
            trailers.append(("grpc-message", encode_grpc_message(message)))
        try:
            await self._stream.send_headers(trailers, end_stream=True)
        except h2.exceptions.StreamClosedError:
            return  # the client is gone: nobody to tell
        if status is not Status.OK and self._stream.closable:
            self._stream.reset_nowait()


async def serve_message_call(
    stream: H2Stream,
    handler: MessageHandler,
    received_type: Any,
    max_message_bytes: int,
    deadline: Deadline | None,
    release_stream: Callable[[], Any],
) -> None:
    """Run ``handler`` on one call and end the call as grpclib's server would."""
    call: MessageCall[Any] = MessageCall(stream, received_type, max_message_bytes)
    timeout = asyncio.timeout(deadline.time_remaining()) if deadline is not None else None
    status, message = Status.OK, None
    try:
        try:
            if timeout is None:
                await handler(call)
            else:
                async with timeout:
                    await handler(call)
        except GRPCError as error:
            status, message = error.status, error.message
        except Exception as error:
            if isinstance(error, TimeoutError) and timeout is not None and timeout.expired():
                status, message = Status.DEADLINE_EXCEEDED, None
            else:
                logger.exception("Application error")
                status, message = Status.UNKNOWN, "Internal Server Error"
        if not stream.connection.is_closing():
            await call.end(status, message)
    finally:
        release_stream()
