"""The one derivation of the placement-sharing flags: what it writes, the picker's own parser reads back."""

from __future__ import annotations

import pytest
from picker.cli import parse_options
from picker.placements.peer_flags import placement_sharing_flags

BASE = ["--pool-name", "p"]


def test_the_flags_parse_back_to_the_port_and_every_peer() -> None:
    flags = placement_sharing_flags(9004, [("p-epp-peers.ns.svc.cluster.local", 9004), ("fd00::7", 9005)])
    assert flags == [
        "--placement-port", "9004",
        "--placement-peers", "p-epp-peers.ns.svc.cluster.local:9004,[fd00::7]:9005",
    ]  # fmt: skip
    options = parse_options([*BASE, *flags])
    assert options.placement_port == 9004
    assert options.placement_peer_list() == [("p-epp-peers.ns.svc.cluster.local", 9004), ("fd00::7", 9005)]


def test_a_lone_replica_receives_and_names_no_peer() -> None:
    flags = placement_sharing_flags(41000, [])
    assert flags == ["--placement-port", "41000"]
    assert parse_options([*BASE, *flags]).placement_peers == ""


@pytest.mark.parametrize("port", [0, 65_536])
def test_a_port_out_of_range_is_refused_naming_it(port: int) -> None:
    with pytest.raises(ValueError, match=f"placement port {port}: use 1-65535"):
        placement_sharing_flags(port, [("peers", 9004)])
