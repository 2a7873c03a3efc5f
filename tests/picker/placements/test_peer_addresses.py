"""--placement-peers: validated as host:port entries, resolved into the channel's peers, and a name that
stops resolving keeps its last addresses."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter

import pytest
from picker.cli import OptionsError, parse_options
from picker.framework.clock import FakeClock
from picker.framework.placement_sharing import SharedPlacement
from picker.placements.datagram_channel import ChannelAddresses, DatagramPlacementChannel
from picker.placements.peer_addresses import PeerAddresses
from picker.placements.wire import MAX_DATAGRAM_BYTES, decode

BASE = ["--pool-name", "p"]


def test_peers_are_host_port_entries_and_need_a_port_to_receive_on() -> None:
    options = parse_options([*BASE, "--placement-port", "9004", "--placement-peers", "peers.ns.svc:9004, 10.0.0.7:9004"])
    assert options.placement_peer_list() == [("peers.ns.svc", 9004), ("10.0.0.7", 9004)]
    with pytest.raises(OptionsError, match=r"--placement-peers entry 'peers\.ns\.svc': expected host:port"):
        parse_options([*BASE, "--placement-port", "9004", "--placement-peers", "peers.ns.svc"])
    with pytest.raises(OptionsError, match="--placement-peers needs --placement-port"):
        parse_options([*BASE, "--placement-peers", "peers.ns.svc:9004"])


class NoMetrics:
    def record_shared_placements(self, direction: str, count: int) -> None:
        pass

    def record_shared_placement_error(self, cause: str, count: int) -> None:
        pass

    def set_sibling_deciders(self, count: int) -> None:
        pass


async def test_names_resolve_to_every_address_and_a_failing_name_keeps_its_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    peers = PeerAddresses([("localhost", 9004), ("127.0.0.3", 9005)], socket.AF_INET, 10.0, FakeClock())
    assert await peers.resolve() == [("127.0.0.1", 9004), ("127.0.0.3", 9005)]

    calls: Counter[str] = Counter()

    async def failing(host: str, *args: object, **kwargs: object) -> list[object]:
        calls[host] += 1
        raise socket.gaierror("no such name")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", failing)
    assert await peers.resolve() == [("127.0.0.1", 9004), ("127.0.0.3", 9005)]
    assert calls == {"localhost": 1, "127.0.0.3": 1}


async def test_the_channel_sends_to_the_resolved_peers() -> None:
    """Two replicas over UDP on loopback: each names the other as its peer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.setblocking(False)
        port = receiver.getsockname()[1]
        channel = DatagramPlacementChannel(ChannelAddresses(socket.AF_INET, ("127.0.0.1", 0), ()), NoMetrics())
        peers = PeerAddresses([("localhost", port)], socket.AF_INET, 10.0, FakeClock())
        running = asyncio.create_task(channel.run())
        resolving = asyncio.create_task(peers.run(channel))
        try:
            async with asyncio.timeout(5):
                while True:
                    channel.publish(SharedPlacement("scorer", "vllm-0", (1, 2), 2))
                    await asyncio.sleep(0.01)
                    try:
                        datagram = receiver.recv(MAX_DATAGRAM_BYTES)
                        break
                    except BlockingIOError:
                        continue
        finally:
            for task in (running, resolving):
                task.cancel()
            await asyncio.gather(running, resolving, return_exceptions=True)
    message = decode(datagram)
    assert (message.sender, message.placements) == (channel.sender, [SharedPlacement("scorer", "vllm-0", (1, 2), 2)])
