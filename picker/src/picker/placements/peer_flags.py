"""The command line that makes an active-active replica share its placements, derived in one place.

The stack (``components.specs.picker_workload``: port 9004, the pickers' headless Service as the one peer),
the local gateway and the benchmarks (``infgw.launch.placement_peers``: a loopback port per replica, the
others' as peers) all call :func:`placement_sharing_flags`, so what is deployed is what runs locally.
``PickerOptions.placement_peer_list`` parses what this writes.
"""

from __future__ import annotations

from collections.abc import Sequence

PLACEMENT_PORT_FLAG = "--placement-port"
PLACEMENT_PEERS_FLAG = "--placement-peers"
PLACEMENT_FLAGS = (PLACEMENT_PORT_FLAG, PLACEMENT_PEERS_FLAG)


def placement_sharing_flags(port: int, peers: Sequence[tuple[str, int]]) -> list[str]:
    """Receive the peers' placements on UDP ``port``; send ours to every ``(host, port)`` of ``peers`` (a
    name there is resolved again every ``--placement-peers-refresh``; IPv6 literals are bracketed)."""
    if not 1 <= port <= 65_535:
        raise ValueError(f"placement port {port}: use 1-65535 (the stack's is 9004)")
    flags = [PLACEMENT_PORT_FLAG, str(port)]
    if peers:
        flags += [PLACEMENT_PEERS_FLAG, ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in peers)]
    return flags
