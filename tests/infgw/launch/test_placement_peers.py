"""Active-active pickers on one machine: each its own loopback UDP port, the others' as its peers, written by
the function the stack's flags come from (picker.placements.peer_flags)."""

from __future__ import annotations

from picker.cli import parse_options

from infgw.launch.placement_peers import loopback_placement_flags


def test_every_replica_receives_on_its_own_port_and_sends_to_every_other() -> None:
    flags = loopback_placement_flags(3)
    options = [parse_options(["--pool-name", "p", *replica]) for replica in flags]
    ports = [option.placement_port for option in options]
    assert len(set(ports)) == 3
    for own, option in zip(ports, options, strict=True):
        assert sorted(option.placement_peer_list()) == sorted(("127.0.0.1", p) for p in ports if p != own)


def test_a_lone_replica_has_no_peer() -> None:
    (flags,) = loopback_placement_flags(1)
    assert flags[0] == "--placement-port" and "--placement-peers" not in flags
