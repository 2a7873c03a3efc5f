"""One child process, as every part of the gateway is started (replica, picker, Envoy): its own process
group, stdout and stderr in one log file, stopped with SIGTERM then SIGKILL to the whole group after a
bound, killed by the kernel if the parent dies (Linux), and restartable with the same command line.

Built on :class:`subprocess.Popen`, not an asyncio subprocess, so it belongs to no event loop: a module-
scoped test fixture starts it, an async test kills it, a synchronous benchmark stops it. Waits come in two
forms: ``async`` ones that poll, and ``*_blocking`` ones for callers without a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

from pydantic import BaseModel, ValidationError

_PR_SET_PDEATHSIG = 1
# What log_tail reads at most from the end of the log (the log itself is not bounded: a child's output
# over a long soak is what one reads after a failure).
LOG_TAIL_BYTES = 64 * 1024
KILL_REAP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05

_Line = TypeVar("_Line", bound=BaseModel)


class LaunchError(RuntimeError):
    """A child exited or did not become ready; the message ends with the tail of its log."""


class ChildExitedError(LaunchError):
    """A child process exited while it was expected to run; carries the tail of its log."""

    def __init__(self, name: str, returncode: int, log_path: Path, log_tail: str) -> None:
        self.name = name
        self.returncode = returncode
        self.log_path = log_path
        self.log_tail = log_tail
        super().__init__(f"{name} exited with code {returncode}; last lines of {log_path}:\n{log_tail}")


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. The kernel sends SIGTERM when the parent thread exits,
    # even on SIGKILL, so no replica or picker outlives a killed `infgw local` or test run.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ChildProcess:
    """``argv`` run as ``name``, output in ``log_path``; ``env`` adds variables to this process's environment.

    :meth:`start` spawns (again, after an exit: a restart with the same command line, its output appended
    to the log); :meth:`stop` and :meth:`kill` are idempotent and always reap. ``async with`` (or ``with``,
    blocking) starts on entry and stops on exit.
    """

    def __init__(
        self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._env = {**os.environ, **env} if env else None
        self._process: subprocess.Popen[bytes] | None = None
        self._started_at_byte = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def returncode(self) -> int | None:
        """None while running (or not started)."""
        return self._process.poll() if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Spawn ``argv``; the first start truncates the log, a restart appends to it."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        restart = self._process is not None
        with self.log_path.open("ab" if restart else "wb") as log_file:
            self._started_at_byte = log_file.tell()
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=self._env,
                start_new_session=True,  # own process group: Ctrl-C in the terminal reaches only us
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )

    def log_text(self) -> str:
        """This start's output so far (a restart does not see the previous run's lines)."""
        try:
            with self.log_path.open("rb") as log_file:
                log_file.seek(self._started_at_byte)
                return log_file.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        try:
            with self.log_path.open("rb") as log_file:
                log_file.seek(max(0, log_file.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
                text = log_file.read().decode("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"

    def check_running(self) -> None:
        """Raise ChildExitedError if the process has exited."""
        if self._process is not None and (returncode := self._process.poll()) is not None:
            raise ChildExitedError(self.name, returncode, self.log_path, self.log_tail())

    def ready_line(self, line_model: type[_Line]) -> _Line | None:
        """The first line of this start's output that is a ``line_model`` JSON object (a program's
        readiness line), or None yet; raises ChildExitedError if the child exited without one."""
        exited = self._process is not None and self._process.poll() is not None
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValidationError):
                    return line_model.model_validate_json(line)
        if exited:
            self.check_running()
        return None

    def _signal_group(self, signum: int) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signum)

    def terminate(self) -> None:
        """SIGTERM to the process group without waiting (to let several children drain at once)."""
        if self.running:
            self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to the process group, no drain (a crash, as the fault tests need); reaps it."""
        if self._process is None:
            return
        self._signal_group(signal.SIGKILL)
        self._process.wait(KILL_REAP_TIMEOUT_S)

    async def stop(self, timeout_s: float = 5.0) -> int | None:
        """SIGTERM to the process group, SIGKILL after ``timeout_s``; returns the exit code once reaped."""
        if self._process is None:
            return None
        if self._process.poll() is None:
            self._signal_group(signal.SIGTERM)
            deadline = asyncio.get_running_loop().time() + timeout_s
            while self._process.poll() is None and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(POLL_INTERVAL_S)
        return self._finish_stop()

    def stop_blocking(self, timeout_s: float = 5.0) -> int | None:
        """:meth:`stop` for a caller without an event loop."""
        if self._process is None:
            return None
        if self._process.poll() is None:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout_s)
        return self._finish_stop()

    def _finish_stop(self) -> int:
        assert self._process is not None
        returncode = self._process.poll()
        # The leader may be gone (or ignored SIGTERM); anything it forked into the group goes too.
        self._signal_group(signal.SIGKILL)
        return returncode if returncode is not None else self._process.wait(KILL_REAP_TIMEOUT_S)

    def rss_kib(self) -> int:
        """Resident set size from /proc (Linux), in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for {self.name}")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop_blocking()

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()
