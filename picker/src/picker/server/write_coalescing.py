"""One socket write per event-loop turn for a grpclib HTTP/2 connection.

grpclib writes to the transport at every frame it produces: each answer's HEADERS and DATA, the trailers,
and a WINDOW_UPDATE for every DATA frame it reads. Behind Envoy that is about a dozen writes per request,
each a TLS record and a send() syscall, and it was the largest single cost in a profile of the picker
(picker/README.md, Transport). Holding the bytes until the loop has run everything that is ready, then
writing them at once, sends the same bytes in the same order with a fraction of the writes.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CoalescingTransport:
    """Wraps a transport: ``write`` appends, one ``call_soon`` flush per turn sends everything queued."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()  # a GOAWAY or final trailers queued this turn still leave before the close
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:
        # Everything else (abort, pause_reading, ...) goes straight to the real transport.
        return getattr(self._transport, name)
