"""One gRPC listening port on grpclib (pure-Python HTTP/2 on asyncio): the picker's transport.

grpclib rather than grpcio.aio: behind Envoy the transport is most of the picker's CPU per request, and
grpclib's per-message path is plain asyncio (no completion-queue thread, no wake-up syscalls per message);
see the "Transport" paragraph of picker/README.md for the measurement.

What grpclib leaves to its user, and this class adds:
- the socket is bound here, so a bind failure names the flag and port 0 reads back; a worker process
  binds nothing and serves only the connections its supervisor accepted (``start_unbound`` and
  ``serve_accepted``, picker.workers.connection_dealer);
- a message-size limit (grpclib has none): MAX_MESSAGE_BYTES both ways, RESOURCE_EXHAUSTED beyond it;
- a graceful stop: new calls are refused with UNAVAILABLE, open calls get the grace period to finish,
  then the rest are cancelled (grpclib's own ``close()`` cancels everything at once);
- bidirectional-streaming calls (ext_proc's ``Process``) served by ``message_call.py`` on grpclib's HTTP/2
  stream, without grpclib's per-message server layers; unary and server-streaming calls (health) and
  malformed requests take grpclib's own path.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, cast

from grpclib.const import Cardinality, Handler, Status
from grpclib.encoding.base import GRPC_CONTENT_TYPE, CodecBase
from grpclib.encoding.proto import ProtoCodec
from grpclib.exceptions import GRPCError
from grpclib.metadata import Deadline
from grpclib.protocol import Connection, EventsProcessor, H2Protocol
from grpclib.protocol import Stream as H2Stream
from grpclib.server import Handler as ConnectionHandler
from grpclib.server import Server, Stream
from h2.settings import SettingCodes

from picker.server.h2_connection import PickerH2Connection
from picker.server.message_call import serve_message_call
from picker.server.write_coalescing import CoalescingTransport

logger = logging.getLogger(__name__)

# Envoy sends a BUFFERED body as one message; long prompts need far more than gRPC's usual 4 MiB.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# Envoy opens connections in bursts under load; asyncio's default backlog (100) would drop some.
LISTEN_BACKLOG = 1024

StreamHandler = Callable[[Stream[Any, Any]], Awaitable[None]]


class Servable(Protocol):
    """A grpclib service: ``__mapping__`` from ``/package.Service/Method`` to its Handler."""

    def __mapping__(self) -> Mapping[str, Handler]: ...


class PortBindError(OSError):
    """A port could not be bound; the message names the flag."""


class _SizeLimitedProtoCodec(ProtoCodec):
    """Protobuf with grpcio's max_{receive,send}_message_length semantics (grpclib enforces no limit)."""

    def __init__(self, max_message_bytes: int) -> None:
        self._max_message_bytes = max_message_bytes

    def encode(self, message: Any, message_type: type[Any]) -> bytes:
        data = super().encode(message, message_type)
        if len(data) > self._max_message_bytes:
            raise GRPCError(
                Status.RESOURCE_EXHAUSTED,
                f"response of {len(data)} bytes exceeds the {self._max_message_bytes}-byte message limit",
            )
        return data

    def decode(self, data: bytes, message_type: type[Any]) -> Any:
        if len(data) > self._max_message_bytes:
            raise GRPCError(
                Status.RESOURCE_EXHAUSTED,
                f"request of {len(data)} bytes exceeds the {self._max_message_bytes}-byte message limit",
            )
        return super().decode(data, message_type)


def bound_socket(host: str, port: int, flag: str) -> socket.socket:
    """A listening-ready TCP socket on ``host:port``; errors name ``flag``."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise PortBindError(
            f"{flag}: cannot listen on {host}:{port} (not a local address): {error}"
        ) from None
    listening = socket.socket(family, kind, protocol)
    try:
        # SO_REUSEADDR (as asyncio sets it) only skips TIME_WAIT; it never lets two listeners share a port.
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
    except OSError as error:
        listening.close()
        raise PortBindError(
            f"{flag}: cannot listen on {host}:{port} (in use, or not a local address): {error}"
        ) from None
    return listening


# h2 advertises and enforces 100 concurrent streams per connection. Envoy takes the first SETTINGS frame's
# limit as that connection's capacity for good (a later, higher value does not raise it), so under load it
# opened more connections, whose TLS handshakes then waited behind the busy loop past Envoy's connect timeout
# and failed every request queued on them (503s in envoy_overhead.py at 200-400 req/s); and grpclib closes a
# whole connection when a client opens one stream past the limit. grpc-core servers advertise no limit.
_MAX_CONCURRENT_STREAMS = 2**31 - 1


class _ServerProtocol(H2Protocol):
    """grpclib's HTTP/2 server protocol, set up here so that the very first SETTINGS frame lifts the stream
    limit, with the connection's writes coalesced per event-loop turn (write_coalescing.py)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # No isinstance check: transports of other loops (uvloop's) do not subclass asyncio.Transport.
        coalescing = CoalescingTransport(cast(asyncio.Transport, transport), asyncio.get_running_loop())
        raw_socket = transport.get_extra_info("socket")
        if raw_socket is not None:
            raw_socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # answers are small and urgent
        h2_connection = PickerH2Connection(config=self.h2_config)
        h2_connection.local_settings[SettingCodes.MAX_CONCURRENT_STREAMS] = _MAX_CONCURRENT_STREAMS
        h2_connection.local_settings.acknowledge()  # make it the value the preface announces and enforces
        h2_connection.initiate_connection()
        # grpclib's flow-control windows (Configuration defaults: 4 MiB per connection and per stream).
        default_window = h2_connection.local_settings.initial_window_size
        connection_window = self.config.http2_connection_window_size
        if connection_window != default_window:
            h2_connection.increment_flow_control_window(connection_window - default_window)
        stream_window = self.config.http2_stream_window_size
        if stream_window != default_window:
            h2_connection.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: stream_window})
        self.connection = Connection(h2_connection, cast(asyncio.Transport, coalescing), config=self.config)
        self.connection.flush()
        self.connection.initialize()  # keepalive pings, if configured
        self.processor = EventsProcessor(self.handler, self.connection)


_MESSAGE_CALL_CONTENT_TYPES = frozenset({GRPC_CONTENT_TYPE, f"{GRPC_CONTENT_TYPE}+proto"})


def _message_call_of(
    headers: Sequence[tuple[str, str]], message_calls: Mapping[str, Handler]
) -> tuple[Handler, Deadline | None] | None:
    """The bidirectional-streaming method a well-formed gRPC request calls, and its deadline; None for
    anything else (another method, a malformed request), which grpclib's own handler serves or refuses."""
    method = path = content_type = te = None
    has_timeout = False
    for name, value in headers:
        if name == ":method":
            method = value
        elif name == ":path":
            path = value
        elif name == "content-type":
            content_type = value
        elif name == "te":
            te = value
        elif name == "grpc-timeout":
            has_timeout = True
    handler = message_calls.get(path) if path is not None else None
    if (
        handler is None
        or method != "POST"
        or te != "trailers"
        or content_type not in _MESSAGE_CALL_CONTENT_TYPES
    ):
        return None
    if not has_timeout:
        return handler, None
    try:
        return handler, Deadline.from_headers(list(headers))
    except ValueError:
        return None  # grpclib answers an unreadable grpc-timeout


class _PickerConnectionHandler(ConnectionHandler):
    """grpclib's per-connection handler, with bidirectional-streaming calls (ext_proc's ``Process``) served
    by ``message_call.serve_message_call`` instead of grpclib's server Stream. Their tasks live in the same
    ``_tasks`` as grpclib's, so a client reset, ``close`` and ``wait_closed`` treat both alike."""

    def __init__(
        self,
        mapping: dict[str, Handler],
        codec: CodecBase,
        status_details_codec: Any,
        dispatch: Any,
        message_calls: Mapping[str, Handler],
        max_message_bytes: int,
    ) -> None:
        super().__init__(mapping, codec, status_details_codec, dispatch)
        self._message_calls = message_calls
        self._max_message_bytes = max_message_bytes

    def accept(self, stream: H2Stream, headers: Any, release_stream: Callable[[], Any]) -> None:
        call = _message_call_of(headers, self._message_calls) if self._message_calls else None
        if call is None:
            super().accept(stream, headers, release_stream)
            return
        handler, deadline = call
        self.__gc_step__()
        self._tasks[stream] = self.loop.create_task(
            serve_message_call(
                stream, handler.func, handler.request_type, self._max_message_bytes, deadline, release_stream
            )
        )


class _PickerServer(Server):
    """grpclib's Server whose connections use _ServerProtocol and _PickerConnectionHandler.

    ``_protocol_factory`` is grpclib's own hook for new connections; it is repeated here with the picker's
    handler, and the attributes it reads are the ones grpclib's Server and H2Protocol set (stable through
    0.4.x, which pyproject.toml pins; tests/picker/server covers them).
    """

    def __init__(
        self,
        servable: Servable,
        codec: CodecBase,
        message_calls: Mapping[str, Handler],
        max_message_bytes: int,
    ) -> None:
        super().__init__([servable], codec=codec)
        self._message_calls = message_calls
        self._max_message_bytes = max_message_bytes

    def _protocol_factory(self) -> H2Protocol:
        self.__gc_step__()
        handler = _PickerConnectionHandler(
            self._mapping,
            self._codec,
            self._status_details_codec,
            self.__dispatch__,
            self._message_calls,
            self._max_message_bytes,
        )
        self._handlers.add(handler)
        return _ServerProtocol(handler, self._config, self._h2_config)

    def close(self) -> None:
        """grpclib's close; without a listening socket (a worker's), its connections' calls are cancelled."""
        if self._server is not None:
            super().close()
            return
        for handler in self._handlers:
            handler.close()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await super().wait_closed()
            return
        if self._handlers:
            await asyncio.wait({asyncio.ensure_future(handler.wait_closed()) for handler in self._handlers})


async def _refuse_while_stopping(stream: Stream[Any, Any]) -> None:
    raise GRPCError(Status.UNAVAILABLE, "the picker is shutting down")


class GrpcServer:
    """The services on one port; ``start`` binds (port 0 = OS-chosen, read ``port``), ``stop`` drains."""

    def __init__(self, services: Sequence[Servable], max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._mapping = {
            name: handler._replace(func=self._tracked(handler.func))
            for service in services
            for name, handler in service.__mapping__().items()
        }
        self._codec = _SizeLimitedProtoCodec(max_message_bytes)
        self._max_message_bytes = max_message_bytes
        # Served by message_call.py (recv_message / send_messages only); the others by grpclib's Stream.
        self._message_calls = {
            name: handler
            for name, handler in self._mapping.items()
            if handler.cardinality is Cardinality.STREAM_STREAM
        }
        self._server: Server | None = None
        self._ssl_context: ssl.SSLContext | None = None
        self._open_calls = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self.port = 0

    def __mapping__(self) -> Mapping[str, Handler]:
        return self._mapping

    def _tracked(self, func: StreamHandler) -> StreamHandler:
        async def handle(stream: Stream[Any, Any]) -> None:
            if self._stopping:
                await _refuse_while_stopping(stream)
            self._open_calls += 1
            self._idle.clear()
            try:
                await func(stream)
            finally:
                self._open_calls -= 1
                if self._open_calls == 0:
                    self._idle.set()

        return handle

    @property
    def open_calls(self) -> int:
        return self._open_calls

    def _new_server(self) -> _PickerServer:
        return _PickerServer(self, self._codec, self._message_calls, self._max_message_bytes)

    def connection_protocol(self) -> asyncio.Protocol:
        """The protocol for one connection, as ``start`` makes for every accepted socket: for in-process
        replays that feed it bytes without a socket (bench.micro.picker.transport_replay)."""
        return self._new_server()._protocol_factory()

    async def start(
        self,
        host: str,
        port: int,
        flag: str,
        ssl_context: ssl.SSLContext | None = None,
    ) -> int:
        """Bind and serve; returns the bound port. Raises PortBindError naming ``flag``."""
        listening = bound_socket(host, port, flag)
        try:
            server = self._new_server()
            await server.start(sock=listening, backlog=LISTEN_BACKLOG, ssl=ssl_context)
        except OSError as error:
            listening.close()
            raise PortBindError(f"{flag}: cannot listen on {host}:{port}: {error}") from None
        except BaseException:
            listening.close()
            raise
        self._server = server
        self._ssl_context = ssl_context
        self.port = listening.getsockname()[1]
        return self.port

    def start_unbound(self, ssl_context: ssl.SSLContext | None = None) -> None:
        """Serve without a listening socket: only the connections passed to ``serve_accepted`` (a worker's,
        dealt by its supervisor, which owns the port). ``port`` stays 0."""
        self._server = self._new_server()
        self._ssl_context = ssl_context

    async def serve_accepted(self, connection: socket.socket) -> None:
        """Serve a connection another process accepted (a worker's, dealt by its supervisor), as if this
        server had accepted it: TLS if started with TLS, the same protocol. Closed at once before ``start`` or
        ``start_unbound`` and once stopping."""
        if self._server is None or self._stopping:
            connection.close()
            return
        server = self._server
        assert isinstance(server, _PickerServer)
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                server._protocol_factory, connection, ssl=self._ssl_context
            )
        except (OSError, ssl.SSLError) as error:  # the client went away, or its TLS handshake failed
            logger.debug("dealt connection closed before it was served: %s", error)
            connection.close()

    async def stop(self, grace_s: float | None) -> None:
        """Refuse new calls, give open ones ``grace_s`` (None or 0: none) to finish, then cancel the rest."""
        if self._server is None:
            return
        self._stopping = True
        if grace_s and self._open_calls:
            try:
                async with asyncio.timeout(grace_s):
                    await self._idle.wait()
            except TimeoutError:
                logger.warning(
                    "%d stream(s) still open after the %.1f s grace period; cancelling them",
                    self._open_calls,
                    grace_s,
                )
        server, self._server = self._server, None
        server.close()
        # Cancelled handlers run their finally blocks (a stream's release) before this returns.
        await server.wait_closed()
