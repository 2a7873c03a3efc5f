"""Active-active picker replicas on one machine, sharing placements as the stack's do.

In a cluster every replica receives on UDP 9004 and names its peers by the headless Service
(``components.specs.picker_workload.picker_placement_args``). On one machine the replicas cannot all bind one
port of one address, and no name lists them, so each gets its own free loopback port and the others' as
peers. The flags come from the same function the stack's do (``picker.placements.peer_flags``); only the
addresses differ.
"""

from __future__ import annotations

import socket

from picker.placements.peer_flags import placement_sharing_flags

from infgw.launch.picker_process import LOOPBACK
from infgw.launch.ports import free_ports


def loopback_placement_flags(count: int, host: str = LOOPBACK) -> list[list[str]]:
    """Per replica of ``count``: ``--placement-port`` its own free UDP port on ``host``, ``--placement-peers``
    the other replicas' (none for a lone replica)."""
    ports = free_ports(count, host, kind=socket.SOCK_DGRAM)
    return [placement_sharing_flags(port, [(host, other) for other in ports if other != port]) for port in ports]
