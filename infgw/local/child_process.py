"""One child process of the local gateway: its own process group, output in a log file, stopped with
SIGTERM then SIGKILL to the whole group, and (on Linux) killed by the kernel if the parent dies."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class ChildExitedError(RuntimeError):
    """A child process exited while it was expected to run; carries the tail of its log."""

    def __init__(self, name: str, returncode: int, log_path: Path, log_tail: str) -> None:
        self.name = name
        self.returncode = returncode
        self.log_path = log_path
        self.log_tail = log_tail
        super().__init__(f"{name} exited with code {returncode}; last lines of {log_path}:\n{log_tail}")


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. The kernel sends SIGTERM when the parent thread exits,
    # even on SIGKILL, so no replica or picker outlives a killed `infgw local`.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ChildProcess:
    """Start with :meth:`start`; :meth:`stop` is idempotent and always reaps the process."""

    def __init__(
        self, name: str, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._env = env
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def returncode(self) -> int | None:
        """None while running (or not started)."""
        return self._process.returncode if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log_file:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                env=self._env,
                start_new_session=True,  # own process group: Ctrl-C in the terminal reaches only us
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"

    def check_running(self) -> None:
        """Raise ChildExitedError if the process has exited."""
        if self._process is not None and self._process.returncode is not None:
            raise ChildExitedError(self.name, self._process.returncode, self.log_path, self.log_tail())

    def _signal_group(self, signum: int) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signum)

    async def kill(self) -> None:
        """SIGKILL to the process group, no drain (a crash, as the fault tests need); reaps it."""
        if self._process is None:
            return
        self._signal_group(signal.SIGKILL)
        await self._process.wait()

    async def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM to the process group, SIGKILL after ``timeout_s``; waits until it is reaped."""
        if self._process is None:
            return
        if self._process.returncode is None:
            self._signal_group(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), timeout_s)
            except TimeoutError:
                self._signal_group(signal.SIGKILL)
                await self._process.wait()
        # The leader is gone; anything it forked into the group goes too.
        self._signal_group(signal.SIGKILL)
