"""``--placement-peers``: the active-active replicas' UDP addresses, resolved again every refresh.

A headless Service's name resolves to its pods' IPs (the stack's peers Service lists not-ready pods too), so
replicas that come and go are found without an API watch; this pod's own address among them is harmless (the
channel drops its own datagrams).
A name that does not resolve keeps its last addresses, and is logged once until it resolves again.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence

from picker.framework.clock import Clock
from picker.placements.datagram_channel import Address, DatagramPlacementChannel

logger = logging.getLogger(__name__)


class PeerAddresses:
    def __init__(
        self, peers: Sequence[tuple[str, int]], family: socket.AddressFamily, refresh_s: float, clock: Clock
    ) -> None:
        self._peers = list(peers)
        self._family = family
        self._refresh_s = refresh_s
        self._clock = clock
        self._resolved: dict[tuple[str, int], list[Address]] = {}
        self._failing: set[str] = set()

    async def resolve(self) -> list[Address]:
        """Every peer's current addresses (a name that fails keeps its last ones)."""
        loop = asyncio.get_running_loop()
        for host, port in self._peers:
            try:
                infos = await loop.getaddrinfo(host, port, family=self._family, type=socket.SOCK_DGRAM)
            except OSError as error:
                if host not in self._failing:
                    self._failing.add(host)
                    logger.warning(
                        "placement peers: %s does not resolve (%s); keeping its last addresses (%d), retrying "
                        "every %.0f s",
                        host, error, len(self._resolved.get((host, port), [])), self._refresh_s,
                    )  # fmt: skip
                continue
            if host in self._failing:
                self._failing.discard(host)
                logger.info("placement peers: %s resolves again", host)
            self._resolved[(host, port)] = sorted({(str(info[4][0]), int(info[4][1])) for info in infos})
        return sorted({address for addresses in self._resolved.values() for address in addresses}, key=str)

    async def run(self, channel: DatagramPlacementChannel) -> None:
        """Keep ``channel``'s peers current until cancelled."""
        known: list[Address] | None = None
        while True:
            addresses = await self.resolve()
            if addresses != known:
                known = addresses
                channel.set_peers(addresses)
                logger.info("placement peers: %s", ", ".join(map(str, addresses)) or "none")
            await self._clock.sleep(self._refresh_s)
