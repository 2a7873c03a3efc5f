"""Child processes the bench starts (routers, simulators): started, awaited until ready, always stopped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp


class ProcessFailed(RuntimeError):
    """A child exited or never became ready; the message ends with the tail of its log."""


def free_port() -> int:
    """A port the OS just handed out on 127.0.0.1 (for programs that cannot report a port-0 bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_run(count: int, attempts: int = 50) -> int:
    """A base port with ``count`` consecutive ports free on every interface (for servers that bind
    ``tcp://*:<port>``, such as vLLM's KV-event publishers)."""
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("", 0))
            base = int(probe.getsockname()[1])
        if base + count > 65_000:
            continue
        probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
        try:
            for offset, candidate in enumerate(probes):
                candidate.bind(("", base + offset))
            return base
        except OSError:
            continue
        finally:
            for candidate in probes:
                candidate.close()
    raise OSError(f"found no run of {count} free ports in {attempts} attempts")


class ManagedProcess:
    """One child process with its output in ``log_path``; use as ``async with``.

    The child gets its own process group so stopping it also stops anything it spawned.
    """

    def __init__(self, name: str, argv: Sequence[str], log_path: Path,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._env = env
        self._cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> ManagedProcess:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def start(self, append_log: bool = False) -> None:
        """Starts the child; ``append_log`` keeps the previous run's log (a restart)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab" if append_log else "wb") as log:
            self._process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **(self._env or {})}, cwd=self._cwd, start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def exited(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def wait_http_ready(self, url: str, timeout_s: float = 30.0, expect_status: int = 200) -> None:
        """Polls ``url`` until it answers ``expect_status``; fails fast if the child exits."""
        deadline = time.monotonic() + timeout_s
        last_error = "no answer yet"
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                code = self.exited()
                if code is not None:
                    raise ProcessFailed(f"{self.name} exited with {code} before it was ready:\n{self.log_tail()}")
                try:
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                        if resp.status == expect_status:
                            return
                        last_error = f"HTTP {resp.status}"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    last_error = type(exc).__name__
                await asyncio.sleep(0.1)
        raise ProcessFailed(f"{self.name} not ready at {url} after {timeout_s:g} s ({last_error}):\n"
                            f"{self.log_tail()}")

    async def stop(self, grace_s: float = 5.0) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
