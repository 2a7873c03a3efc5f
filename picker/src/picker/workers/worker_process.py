"""One worker process as its supervisor sees it: started, followed through its report pipe (serving, then
readiness changes; the pipe closing means the process is gone), dealt ext_proc connections over a Unix
socket (picker.workers.connection_dealer), terminated or killed."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import sys

from picker.workers.reports import READY, SERVING
from picker.workers.start_error import WorkerStartError

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: the kernel sends it SIGTERM when the supervisor dies, even
    # on SIGKILL, so no worker outlives its picker.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class WorkerProcess:
    """``await start()`` returns once the worker serves; ``await follow()`` returns once it is gone."""

    def __init__(
        self, index: int, options_json: str, now: float, placement_siblings: tuple[int, str] | None = None
    ) -> None:
        """``placement_siblings``: (worker count, token) to share placements with the other workers."""
        self.index = index
        self._sharing_args = (
            (str(placement_siblings[0]), placement_siblings[1]) if placement_siblings is not None else ()
        )
        self.started_at = now
        self._options_json = options_json
        self._process: asyncio.subprocess.Process | None = None
        self._reports: asyncio.StreamReader | None = None
        self._transport: asyncio.BaseTransport | None = None
        self._connections: socket.socket | None = None  # the supervisor's end of the dealing channel
        self.dealt = 0  # connections dealt to this process
        self.ready = False
        self.serving = False
        self.metrics_port = 0

    @property
    def pid(self) -> int:
        return self._process.pid if self._process is not None else 0

    async def start(self) -> None:
        """Spawn the worker and wait for its ``serving`` report.

        Raises:
            WorkerStartError: it exited first (a port it could not bind, an endpoints file it refused).
        """
        read_fd, write_fd = os.pipe()
        self._connections, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._connections.setblocking(False)
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "picker.workers.worker_main",
                str(self.index), str(write_fd), str(worker_end.fileno()), *self._sharing_args,
                # The options on stdin, not the command line: no argument-size limit, and `ps` stays short.
                stdin=asyncio.subprocess.PIPE,
                pass_fds=(write_fd, worker_end.fileno()),
                # Its own session: a terminal's Ctrl-C reaches the supervisor, which stops workers in order.
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )  # fmt: skip
        except BaseException:
            os.close(read_fd)
            self._close_connections()
            raise
        finally:
            os.close(write_fd)
            worker_end.close()
        assert self._process.stdin is not None
        self._process.stdin.write(self._options_json.encode())
        self._process.stdin.close()
        self._reports = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(self._reports)
        self._transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: protocol, os.fdopen(read_fd, "rb", buffering=0)
        )
        while not self.serving:
            if not await self._read_report():
                raise WorkerStartError(self.index, await self.wait())

    async def _read_report(self) -> bool:
        """Apply the next report; False once the pipe is closed (the worker is gone)."""
        assert self._reports is not None
        line = await self._reports.readline()
        if not line:
            self.ready = False
            self.serving = False
            return False
        try:
            report = json.loads(line)
            if report["event"] == SERVING:
                self.metrics_port = int(report["metrics"])
                self.serving = True
            elif report["event"] == READY:
                self.ready = bool(report["ready"])
        except (ValueError, KeyError, TypeError):
            logger.error("worker %d sent an unreadable report %r; ignored", self.index, line[:200])
        return True

    async def follow(self) -> None:
        """Track readiness reports until the worker is gone."""
        try:
            while await self._read_report():
                pass
        finally:
            if self._transport is not None:
                self._transport.close()
            self._close_connections()

    def deal(self, connection: socket.socket) -> bool:
        """Hand an accepted connection to this worker (the caller closes its own copy); False when the
        worker cannot take it (gone, or not reading its channel)."""
        if self._connections is None or not self.serving:
            return False
        try:
            socket.send_fds(self._connections, [b"c"], [connection.fileno()])
        except OSError:  # BlockingIOError: a full channel; BrokenPipeError and others: the worker is gone
            return False
        self.dealt += 1
        return True

    def _close_connections(self) -> None:
        if self._connections is not None:
            self._connections.close()
            self._connections = None

    async def wait(self) -> int:
        """Its exit code (negative: the signal that ended it)."""
        assert self._process is not None
        return await self._process.wait()

    def signal(self, signal_number: int) -> None:
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal_number)
