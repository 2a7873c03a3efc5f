"""Port allocation: free ports bind; a busy port is an error naming it and how to find its owner."""

from __future__ import annotations

import contextlib
import socket

import pytest

from infgw.launch import ports
from infgw.launch.ports import PortBusyError, ensure_port_free, free_port


def test_free_port_can_be_bound() -> None:
    port = free_port()
    ensure_port_free("127.0.0.1", port)


def test_listening_port_is_reported_busy_with_a_fix() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortBusyError) as raised:
            ensure_port_free("127.0.0.1", port)
    message = str(raised.value)
    assert f"port {port} on 127.0.0.1 is not available (already in use)" in message
    assert "--port" in message
    assert raised.value.port == port


def test_free_ports_are_distinct_and_bindable_of_the_kind_asked() -> None:
    from infgw.launch.ports import free_ports

    ports = free_ports(4, kind=socket.SOCK_DGRAM)
    assert len(set(ports)) == 4
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", ports[0]))


def test_a_port_block_is_free_and_below_the_ephemeral_range() -> None:
    """Outgoing connections take ports inside the ephemeral range (and leave them in TIME_WAIT); a block is
    searched below it."""
    low, _ = ports.ephemeral_port_range()
    base = ports.free_port_block(8)
    assert base + 8 <= low
    with contextlib.ExitStack() as stack:
        for port in range(base, base + 8):
            stack.enter_context(socket.socket()).bind(("", port))
