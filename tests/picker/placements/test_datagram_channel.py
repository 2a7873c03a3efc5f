"""Placements shared between deciders over abstract Unix datagram sockets: delivered to the sibling's plugin
of the same name, batched per event-loop turn, never blocked by a sibling that is gone or not reading, and
bad datagrams counted and dropped, each cause logged once."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import msgpack
import pytest
from picker.framework.clock import Clock, FakeClock
from picker.framework.in_flight import InFlightTracker
from picker.framework.placement_sharing import SharedPlacement
from picker.placements.datagram_channel import (
    IN_FLIGHT_REFRESH_S,
    IN_FLIGHT_TTL_S,
    ChannelAddresses,
    DatagramPlacementChannel,
    worker_address,
    worker_addresses,
)
from picker.placements.wire import MAX_DATAGRAM_BYTES, InFlightReport, decode, encode

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract Unix addresses")

DEADLINE_S = 5.0


class RecordedMetrics:
    def __init__(self) -> None:
        self.shared: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def record_shared_placements(self, direction: str, count: int) -> None:
        self.shared[direction] += count

    def record_shared_placement_error(self, cause: str, count: int) -> None:
        self.errors[cause] += count

    def set_sibling_deciders(self, count: int) -> None:
        self.siblings = count


class Decider:
    """One channel, running, with what its ``scorer`` subscriber received and its in-flight counts."""

    def __init__(self, addresses: ChannelAddresses, clock: Clock | None = None) -> None:
        self.metrics = RecordedMetrics()
        self.in_flight = InFlightTracker()
        self.channel = DatagramPlacementChannel(addresses, self.metrics, self.in_flight, clock)
        self.received: list[SharedPlacement] = []
        self.channel.subscribe("scorer", self.received.append)


@asynccontextmanager
async def running(*deciders: Decider) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(decider.channel.run()) for decider in deciders]
    try:
        await asyncio.sleep(0)  # every socket bound
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(DEADLINE_S):
        while not predicate():
            await asyncio.sleep(0.001)


def placement(endpoint: str = "vllm-0", keys: tuple[int, ...] = (1, 2, 3)) -> SharedPlacement:
    return SharedPlacement("scorer", endpoint, keys, len(keys))


async def test_a_placement_reaches_every_sibling_and_not_the_sender() -> None:
    token = secrets.token_hex(4)
    deciders = [Decider(worker_addresses(token, index, 3)) for index in range(3)]
    async with running(*deciders):
        deciders[0].channel.publish(placement("vllm-2"))
        await until(lambda: all(decider.received for decider in deciders[1:]))
    assert [decider.received for decider in deciders] == [[], [placement("vllm-2")], [placement("vllm-2")]]
    assert deciders[0].metrics.shared == {"sent": 1}
    assert deciders[1].metrics.shared == {"received": 1}
    assert not any(decider.metrics.errors for decider in deciders)


async def test_placements_of_one_event_loop_turn_go_in_one_datagram() -> None:
    token = secrets.token_hex(4)
    sender = Decider(worker_addresses(token, 0, 2))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sibling:
        sibling.bind(worker_address(token, 1))
        sibling.setblocking(False)
        async with running(sender):
            for index in range(5):
                sender.channel.publish(placement(f"vllm-{index}"))
            await until(lambda: sender.metrics.shared["sent"] == 5)
            datagrams = []
            while True:
                try:
                    datagrams.append(sibling.recv(MAX_DATAGRAM_BYTES))
                except BlockingIOError:
                    break
    assert len(datagrams) == 1
    assert [entry[1] for entry in msgpack.unpackb(datagrams[0])[3]] == [f"vllm-{i}" for i in range(5)]


async def test_a_sibling_that_is_gone_or_not_reading_never_blocks_the_others() -> None:
    token = secrets.token_hex(4)
    # Worker 1 is gone (nothing bound); worker 2 is alive but never reads (a stopped process); worker 3 reads.
    sender, reader = Decider(worker_addresses(token, 0, 4)), Decider(worker_addresses(token, 3, 4))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as stuck:
        stuck.bind(worker_address(token, 2))
        async with running(sender, reader):
            for index in range(200):
                sender.channel.publish(placement(keys=(index,)))
                await asyncio.sleep(0)  # one datagram per turn: the stuck sibling's queue fills
            await until(lambda: len(reader.received) == 200)
    assert [p.keys for p in reader.received] == [(index,) for index in range(200)]
    assert sender.metrics.errors["peer_unreachable"] == 200
    assert 0 < sender.metrics.errors["peer_busy"] < 200
    assert sender.metrics.shared["sent"] == 200


async def test_bad_datagrams_are_counted_dropped_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    token = secrets.token_hex(4)
    receiver = Decider(worker_addresses(token, 1, 2))
    bad = [
        b"not msgpack \xc1",
        msgpack.packb([9, b"sender", []]),
        b"\x00" * (MAX_DATAGRAM_BYTES + 10),
        msgpack.packb([2, b"sender", 1, [["another-plugin", "vllm-0", b"", 0]], None]),
        msgpack.packb([2, b"sender", 1, [], [True, {"vllm-0": -1}]]),  # a negative in-flight count
        msgpack.packb([1, b"sender", []]),  # a picker from before in-flight reports
    ]
    with caplog.at_level(logging.WARNING), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sibling:
        sibling.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MAX_DATAGRAM_BYTES)
        async with running(receiver):
            for _ in range(2):
                for datagram in bad:
                    sibling.sendto(datagram, worker_address(token, 1))
                    await asyncio.sleep(0)  # read as sent: a Unix socket queues at most 10 datagrams (blocking)
            # Then a good one: the channel still serves.
            sibling.sendto(next(encode(b"sibling", 1, [placement()])), worker_address(token, 1))
            await until(lambda: receiver.received == [placement()])
    assert receiver.metrics.errors == {
        "malformed": 4, "unsupported_version": 4, "oversized": 2, "unknown_plugin": 2,
    }  # fmt: skip
    assert receiver.in_flight.counts() == {}
    warnings = [record.getMessage() for record in caplog.records if "placement sharing" in record.getMessage()]
    assert len(warnings) == 4, warnings


async def test_publishing_before_the_channel_runs_is_a_no_op() -> None:
    sender = Decider(worker_addresses(secrets.token_hex(4), 0, 2))
    sender.channel.publish(placement())
    assert sender.metrics.shared == {}


async def test_its_own_datagrams_coming_back_are_dropped_silently() -> None:
    """A peer list may include the decider itself (a headless Service lists every picker pod)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    own = ("127.0.0.1", port)
    decider = Decider(ChannelAddresses(socket.AF_INET, own, (own,)))
    async with running(decider):
        decider.channel.publish(placement())
        await until(lambda: decider.metrics.shared["sent"] == 1)
        await asyncio.sleep(0.05)
    assert decider.received == []
    assert decider.metrics.errors == {}


async def test_an_address_that_cannot_be_bound_leaves_the_decider_serving_unshared(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = secrets.token_hex(4)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as squatter:
        squatter.bind(worker_address(token, 0))
        decider = Decider(worker_addresses(token, 0, 2))
        with caplog.at_level(logging.ERROR):
            task = asyncio.create_task(decider.channel.run())
            await asyncio.sleep(0.01)
        assert not task.done()  # still running: the process's other loops are not taken down
        decider.channel.publish(placement())  # a no-op, not an error
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert "placement sharing off: cannot bind" in caplog.text


async def test_what_a_decider_has_in_flight_is_added_to_its_siblings_counts() -> None:
    token = secrets.token_hex(4)
    deciders = [Decider(worker_addresses(token, index, 3)) for index in range(3)]
    async with running(*deciders):
        for _ in range(3):
            deciders[0].in_flight.increment("vllm-0")
        deciders[1].in_flight.increment("vllm-0")
        deciders[1].in_flight.increment("vllm-1")
        await until(lambda: deciders[2].in_flight.counts() == {"vllm-0": 4, "vllm-1": 1})
        assert deciders[0].in_flight.counts() == {"vllm-0": 4, "vllm-1": 1}  # its own 3 and the sibling's
        assert deciders[0].in_flight.own_counts() == {"vllm-0": 3}
        assert deciders[2].in_flight.own_counts() == {}
        for _ in range(3):
            deciders[0].in_flight.decrement("vllm-0")  # finished
        await until(lambda: deciders[2].in_flight.counts() == {"vllm-0": 1, "vllm-1": 1})
    assert not any(decider.metrics.errors for decider in deciders)
    assert all(decider.metrics.shared == {} for decider in deciders)  # no placement was counted


async def test_a_dead_siblings_in_flight_counts_expire() -> None:
    token = secrets.token_hex(4)
    clock = FakeClock()
    dying, survivor = Decider(worker_addresses(token, 0, 2), clock), Decider(worker_addresses(token, 1, 2), clock)
    async with running(survivor):
        async with running(dying):
            dying.in_flight.increment("vllm-0")
            dying.in_flight.increment("vllm-0")
            await until(lambda: survivor.in_flight.count("vllm-0") == 2)
            await clock.advance(IN_FLIGHT_REFRESH_S)  # the survivor hears the dying one's snapshot
            await until(lambda: survivor.metrics.siblings == 1)
        # The sibling is gone with two requests in flight; nothing tells the survivor they finished.
        waited_s = 0.0
        while waited_s <= IN_FLIGHT_TTL_S:
            assert survivor.in_flight.count("vllm-0") == 2
            await clock.advance(IN_FLIGHT_REFRESH_S)
            waited_s += IN_FLIGHT_REFRESH_S
        await until(lambda: survivor.in_flight.count("vllm-0") == 0)
    assert survivor.metrics.siblings == 0


async def test_each_turns_changes_go_as_counts_and_a_snapshot_follows_every_refresh() -> None:
    token = secrets.token_hex(4)
    clock = FakeClock()
    sender = Decider(worker_addresses(token, 0, 2), clock)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sibling:
        sibling.bind(worker_address(token, 1))
        sibling.setblocking(False)
        async with running(sender):
            sender.in_flight.increment("vllm-0")
            sender.in_flight.increment("vllm-1")
            sender.in_flight.decrement("vllm-1")
            await asyncio.sleep(0)  # the turn's report goes out
            await clock.advance(IN_FLIGHT_REFRESH_S)
            reports = []
            while len(reports) < 2:
                try:
                    reports.append(decode(sibling.recv(MAX_DATAGRAM_BYTES)))
                except BlockingIOError:
                    await asyncio.sleep(0.001)
    change, snapshot = reports
    assert change.in_flight == InFlightReport(False, {"vllm-0": 1, "vllm-1": 0})
    assert snapshot.in_flight == InFlightReport(True, {"vllm-0": 1})
    assert snapshot.sequence > change.sequence
