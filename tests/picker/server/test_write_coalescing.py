"""CoalescingTransport: writes made in one event-loop turn leave as one write, in order, and nothing
queued is lost on close."""

from __future__ import annotations

import asyncio

from picker.server.write_coalescing import CoalescingTransport


class RecordingTransport(asyncio.Transport):
    """The socket end: records what reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data) -> None:
        assert not self.closed, "write after close"
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 1234)}.get(name, default)


async def next_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_writes_in_one_turn_leave_as_one_write_in_order():
    transport = RecordingTransport()
    coalescing = CoalescingTransport(transport, asyncio.get_running_loop())
    coalescing.write(b"HEADERS")
    coalescing.write(memoryview(b"DATA"))
    coalescing.write(b"")
    coalescing.write(bytearray(b"TRAILERS"))
    assert transport.writes == []  # nothing leaves before the loop has run what is ready
    await next_turn()
    assert transport.writes == [b"HEADERSDATATRAILERS"]
    coalescing.write(b"WINDOW_UPDATE")
    await next_turn()
    assert transport.writes == [b"HEADERSDATATRAILERS", b"WINDOW_UPDATE"]


async def test_close_sends_what_is_queued_first_and_nothing_is_written_after():
    transport = RecordingTransport()
    coalescing = CoalescingTransport(transport, asyncio.get_running_loop())
    coalescing.write(b"GOAWAY")
    coalescing.close()
    assert transport.writes == [b"GOAWAY"] and transport.closed
    coalescing.write(b"late")
    await next_turn()  # the scheduled flush finds the transport closing and drops the bytes
    assert transport.writes == [b"GOAWAY"]
    assert coalescing.is_closing()
