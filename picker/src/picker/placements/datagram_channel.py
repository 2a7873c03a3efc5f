"""Placements and in-flight counts shared with sibling deciders over one non-blocking datagram socket (a
PlacementSharing).

Each decider binds its own address and sends to its siblings' addresses: for ``--workers`` Linux abstract
Unix addresses named by the supervisor (:func:`worker_address`; nothing on disk, so a read-only root is fine);
for active-active replicas UDP (``--placement-port``, peers from ``--placement-peers``,
picker.placements.peer_addresses). Each channel has a random sender id; its own datagrams coming back (a
peer list that includes the sender) are dropped silently.
Placements published while requests are routed are queued and sent at the end of the event-loop turn,
batched (picker.placements.wire), to every sibling, with ``sendto`` on a non-blocking socket: a sibling that is gone
(``ECONNREFUSED``, ``ENOENT``) or not reading (its queue full, ``EAGAIN``) costs that batch for that sibling,
counted, never a wait. Received datagrams are decoded and handed to the subscribed plugin on the event loop;
a bad or oversized datagram, or one for a plugin this process does not have, is counted and dropped, each
cause logged once.

Given the decider's InFlightTracker, the channel also shares what the decider has in flight per endpoint:
each batch carries the absolute counts of the endpoints whose count changed in that turn (a request routed
or finished), and every ``IN_FLIGHT_REFRESH_S`` a snapshot of all of them (idle too: it says the decider is
alive), so a lost datagram is corrected within that period. Siblings' reports are
summed into the tracker (picker.placements.sibling_in_flight); a sibling silent for ``IN_FLIGHT_TTL_S``
(dead, or cut off) has its counts dropped.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from picker.framework.clock import Clock, RealClock
from picker.framework.in_flight import InFlightTracker
from picker.framework.placement_sharing import PlacementReceiver, SharedPlacement
from picker.placements.sibling_in_flight import SiblingInFlight
from picker.placements.wire import MAX_DATAGRAM_BYTES, BadPlacementDatagram, InFlightReport, decode, encode

logger = logging.getLogger(__name__)

Address = str | bytes | tuple[str, int]
# Placements queued within one event-loop turn beyond which the oldest are dropped (a loop stuck that long
# has bigger problems; the queue must not grow without bound meanwhile).
MAX_PENDING = 1024
# Datagrams read per wake-up before other work gets the loop.
MAX_READS_PER_WAKEUP = 64
# Room for bursts while a sibling's loop is busy (the kernel caps it at net.core.rmem_max).
RECEIVE_BUFFER_BYTES = 1 << 20
# A snapshot of this decider's in-flight counts goes to the siblings this often (it repairs a lost report); a
# sibling unheard of for the TTL (several snapshots lost: dead or cut off) counts no more.
IN_FLIGHT_REFRESH_S = 0.5
IN_FLIGHT_TTL_S = 2.0


class PlacementSharingMetrics(Protocol):
    def record_shared_placements(self, direction: str, count: int) -> None: ...

    def record_shared_placement_error(self, cause: str, count: int) -> None: ...

    def set_sibling_deciders(self, count: int) -> None: ...


@dataclass(frozen=True, slots=True)
class ChannelAddresses:
    """Where a decider receives placements, and where its siblings do."""

    family: socket.AddressFamily
    own: Address
    peers: tuple[Address, ...]


def worker_address(token: str, index: int) -> str:
    """Worker ``index``'s address among the workers of the supervisor that named ``token``."""
    return f"\0picker-placements-{token}-{index}"


def worker_addresses(token: str, index: int, count: int) -> ChannelAddresses:
    """Worker ``index`` of ``count``: its own abstract Unix address and its siblings'."""
    return ChannelAddresses(
        socket.AF_UNIX,
        worker_address(token, index),
        tuple(worker_address(token, sibling) for sibling in range(count) if sibling != index),
    )


class DatagramPlacementChannel:
    """Serves between ``run()``'s start and its cancellation; publishing outside that window is a no-op.

    Placements go at the end of the event-loop turn, not after a short window: a timer wakes an idle loop once
    more per request (a 2 ms window cost more CPU per request at a few hundred requests per second per
    worker; docs/benchmarks/records/2026-12-07-picker-shared-placements.md)."""

    def __init__(
        self,
        addresses: ChannelAddresses,
        metrics: PlacementSharingMetrics,
        in_flight: InFlightTracker | None = None,
        clock: Clock | None = None,
    ) -> None:
        """``in_flight``: share this decider's in-flight counts and sum its siblings' into it (None: not)."""
        self._family = addresses.family
        self._own_address = addresses.own
        self._peers = list(addresses.peers)
        self._metrics = metrics
        self.sender = secrets.token_bytes(8)
        self._receivers: dict[str, PlacementReceiver] = {}
        self._pending: list[SharedPlacement] = []
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flush_scheduled = False
        self._logged_causes: set[str] = set()
        self._clock: Clock = clock if clock is not None else RealClock()
        self._in_flight = in_flight
        self._sibling_in_flight = SiblingInFlight(in_flight, IN_FLIGHT_TTL_S) if in_flight is not None else None
        self._changed_in_flight: set[str] = set()  # endpoints whose own count changed this turn
        self._sequence = 0
        if in_flight is not None:
            in_flight.watch(self._in_flight_changed)

    # -- PlacementSharing ---------------------------------------------------------------------------
    def publish(self, placement: SharedPlacement) -> None:
        if self._loop is None or not self._peers:
            return
        self._pending.append(placement)
        if len(self._pending) > MAX_PENDING:
            del self._pending[0]
            self._error("queue_full", 1, f"more than {MAX_PENDING} placements queued in one event-loop turn")
        self._flush_at_turn_end(self._loop)

    def _in_flight_changed(self, endpoint_name: str) -> None:
        """This decider's own count for ``endpoint_name`` changed (the tracker's listener)."""
        if self._loop is None or not self._peers:
            return
        self._changed_in_flight.add(endpoint_name)
        self._flush_at_turn_end(self._loop)

    def _flush_at_turn_end(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)

    def subscribe(self, plugin: str, receiver: PlacementReceiver) -> None:
        self._receivers[plugin] = receiver

    def set_peers(self, peers: Sequence[Address]) -> None:
        """Where placements go from now on (a peer list re-resolved)."""
        self._peers = list(peers)

    # -- lifetime -----------------------------------------------------------------------------------
    async def run(self) -> None:
        """Bind, receive until cancelled, then close. An address that cannot be bound is logged and this
        decider routes unshared (it keeps serving: sharing is an optimisation, not a dependency)."""
        with socket.socket(self._family, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            try:
                sock.bind(self._own_address)
            except OSError as error:
                logger.error(
                    "placement sharing off: cannot bind %s (%s); this process routes without its siblings' "
                    "placements (for --placement-port: choose a free UDP port)", _show(self._own_address), error
                )
                await asyncio.Future()  # until cancelled
            loop = asyncio.get_running_loop()
            self._socket, self._loop = sock, loop
            loop.add_reader(sock.fileno(), self._receive)
            try:
                await self._refresh_in_flight()  # until cancelled
            finally:
                loop.remove_reader(sock.fileno())
                self._socket, self._loop = None, None
                self._pending.clear()
                self._changed_in_flight.clear()

    async def _refresh_in_flight(self) -> None:
        """Every IN_FLIGHT_REFRESH_S: this decider's snapshot out, silent siblings' counts dropped."""
        if self._in_flight is None or self._sibling_in_flight is None:
            await asyncio.Future()
            return
        siblings = 0
        while True:
            await self._clock.sleep(IN_FLIGHT_REFRESH_S)
            # Sent idle too: it tells the siblings this decider is alive (the gauge) and repairs a lost report.
            self._changed_in_flight.clear()
            self._send([], InFlightReport(True, self._in_flight.own_counts()))
            expired = self._sibling_in_flight.expire(self._clock.now())
            if expired:
                logger.info(
                    "placement sharing: %d sibling(s) silent for %.1f s; their in-flight counts dropped",
                    expired, IN_FLIGHT_TTL_S,
                )  # fmt: skip
            if self._sibling_in_flight.siblings() != siblings:
                siblings = self._sibling_in_flight.siblings()
                self._metrics.set_sibling_deciders(siblings)

    # -- sending ------------------------------------------------------------------------------------
    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        report = None
        if self._changed_in_flight and self._in_flight is not None:
            own = self._in_flight.own_count
            report = InFlightReport(False, {name: own(name) for name in self._changed_in_flight})
            self._changed_in_flight.clear()
        if pending or report is not None:
            self._send(pending, report)

    def _send(self, pending: list[SharedPlacement], report: InFlightReport | None) -> None:
        sock = self._socket
        if sock is None or not self._peers:
            return
        self._sequence += 1
        for datagram in encode(self.sender, self._sequence, pending, report):
            for peer in self._peers:
                try:
                    sock.sendto(datagram, peer)
                except BlockingIOError:
                    self._error("peer_busy", len(pending), f"sibling {_show(peer)} is not reading; dropped")
                except (ConnectionRefusedError, FileNotFoundError):
                    self._error("peer_unreachable", len(pending), f"no sibling at {_show(peer)}; dropped")
                except OSError as error:
                    self._error("send_failed", len(pending), f"sending to {_show(peer)}: {error}")
        if pending:
            self._metrics.record_shared_placements("sent", len(pending))

    # -- receiving ----------------------------------------------------------------------------------
    def _receive(self) -> None:
        sock = self._socket
        if sock is None:
            return
        for _ in range(MAX_READS_PER_WAKEUP):
            try:
                datagram = sock.recv(MAX_DATAGRAM_BYTES + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                self._error("receive_failed", 1, f"receiving: {error}")
                return
            try:
                message = decode(datagram)
            except BadPlacementDatagram as error:
                self._error(error.cause, 1, f"a placement datagram was refused: {error}")
                continue
            if message.sender == self.sender:
                continue
            siblings = self._sibling_in_flight
            if message.in_flight is not None and siblings is not None:
                siblings.apply(message.sender, message.sequence, message.in_flight, self._clock.now())
            applied = 0
            for placement in message.placements:
                receiver = self._receivers.get(placement.plugin)
                if receiver is None:
                    self._error(
                        "unknown_plugin", 1,
                        f"a sibling shares placements of plugin {placement.plugin!r}, which this process's "
                        "config does not have: run every worker and replica with the same config",
                    )  # fmt: skip
                    continue
                receiver(placement)
                applied += 1
            if applied:
                self._metrics.record_shared_placements("received", applied)

    def _error(self, cause: str, count: int, detail: str) -> None:
        self._metrics.record_shared_placement_error(cause, count)
        if cause not in self._logged_causes:
            self._logged_causes.add(cause)
            logger.warning("placement sharing: %s (counted in %s; logged once)", detail, _ERRORS_METRIC)


_ERRORS_METRIC = "inference_extension_shared_placement_errors_total{cause}"


def _show(address: Address) -> str:
    if isinstance(address, str):
        return address.replace("\0", "@")
    if isinstance(address, bytes):
        return address.decode(errors="replace").replace("\0", "@")
    return f"{address[0]}:{address[1]}"
