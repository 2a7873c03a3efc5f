"""The supervisor accepts every connection on the picker's ext_proc port and deals it to the ready worker
that has been dealt the fewest, passing the descriptor over that worker's Unix socket
(picker.workers.dealt_connections takes it from there).

Why not SO_REUSEPORT (each worker listening on the port, the kernel choosing): the kernel chooses by a
hash of the connection's addresses, and a gateway holds few, long-lived connections: Envoy's 4
connections to a 2-worker picker land all on one worker 1 time in 8 and 3 on one 1 time in 2 (in a
measured run, one worker at 60% of a core and the other at its idle 3%), so one worker runs flat out
while the other idles. Dealing evens the counts. The supervisor touches a connection
once, when it opens; every byte on it goes between the gateway and the worker.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Sequence
from typing import Protocol

logger = logging.getLogger(__name__)

# After a failed accept (no descriptors left, say), the pause before the next.
ACCEPT_RETRY_S = 0.5


class DealtTo(Protocol):
    """A worker as the dealer sees it (picker.workers.worker_process.WorkerProcess)."""

    @property
    def dealt(self) -> int:
        """Connections dealt to it so far."""
        ...

    @property
    def ready(self) -> bool:
        """Synced with the pool (a restarted worker serves before its endpoints are listed)."""
        ...

    def deal(self, connection: socket.socket) -> bool:
        """Pass ``connection`` on; False when it cannot take it."""
        ...


class ConnectionDealer:
    """Accepts on ``listening`` (bound and listening) until cancelled; ``workers()``: the current ones."""

    def __init__(self, listening: socket.socket, workers: Callable[[], Sequence[DealtTo]]) -> None:
        self._listening = listening
        self._workers = workers
        self._dropping = False  # logged once per stretch with no serving worker

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._listening.setblocking(False)
        failing = False
        while True:
            try:
                connection, _ = await loop.sock_accept(self._listening)
            except OSError as error:  # out of descriptors (EMFILE) or memory: pause, as asyncio's servers do
                if not failing:
                    logger.error("accepting ext_proc connections failed (%s); retrying every %.1f s", error,
                                 ACCEPT_RETRY_S)  # fmt: skip
                    failing = True
                await asyncio.sleep(ACCEPT_RETRY_S)
                continue
            failing = False
            with connection:
                self.deal(connection)

    def deal(self, connection: socket.socket) -> bool:
        """To the ready worker dealt the fewest connections (then the next, if it cannot take it; a worker
        serving but not yet ready only when no ready one can)."""
        for worker in sorted(self._workers(), key=lambda worker: (not worker.ready, worker.dealt)):
            if worker.deal(connection):
                self._dropping = False
                return True
        if not self._dropping:
            logger.warning("no worker is serving: closing new ext_proc connections until one is")
            self._dropping = True
        return False
