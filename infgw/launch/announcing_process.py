"""A child that announces readiness with one structured line (the simulator's, the picker's): started with
its ports (0: a free one), ready once the line is printed, restarted on the ports the line named."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel

from infgw.launch.child_process import ChildProcess
from infgw.launch.readiness import wait_ready_line, wait_ready_line_blocking

# A shared 2-core CI box can take tens of seconds to import the picker or the simulator.
READY_TIMEOUT_S = 90.0

_Line = TypeVar("_Line", bound=BaseModel)


class AnnouncingProcess(ABC, Generic[_Line]):
    """``async with`` (or ``with``, blocking) starts it and waits for the line, and stops it; or
    :meth:`start` then :meth:`wait_ready` (or the ``*_blocking`` forms, without an event loop)."""

    line_model: type[_Line]
    kind: ClassVar[str]  # the child's name is "<kind>:<name>" ("replica:r-0"): a supervisor stops by kind

    def __init__(
        self, name: str, log_path: Path, env: Mapping[str, str] | None, ready_timeout_s: float
    ) -> None:
        self.name = name
        self.ready_timeout_s = ready_timeout_s
        self.child = ChildProcess(f"{self.kind}:{name}", self._argv(), log_path, env)
        self.announced: _Line | None = None

    @abstractmethod
    def _argv(self) -> list[str]:
        """The command line for the current ports (the announced ones after a start)."""

    @abstractmethod
    def _take(self, line: _Line) -> None:
        """Record what the line announced (the ports it bound)."""

    def _prepare(self) -> None:
        """Anything the program reads at start (a file); runs before every start."""

    def start(self) -> None:
        """Spawn (again after a stop: on the announced ports); :meth:`wait_ready` follows."""
        self._prepare()
        self.announced = None
        self.child.argv = self._argv()
        self.child.start()

    def _announce(self, line: _Line) -> _Line:
        self.announced = line
        self._take(line)
        return line

    async def wait_ready(self) -> _Line:
        return self._announce(await wait_ready_line(self.child, self.line_model, self.ready_timeout_s))

    def wait_ready_blocking(self) -> _Line:
        return self._announce(wait_ready_line_blocking(self.child, self.line_model, self.ready_timeout_s))

    async def restart(self) -> None:
        """Stop (gracefully) and start again on the same ports: its peers know it by address."""
        await self.child.stop()
        self.start()
        await self.wait_ready()

    def restart_blocking(self) -> None:
        self.child.stop_blocking()
        self.start()
        self.wait_ready_blocking()

    def __enter__(self) -> Self:
        self.start()
        try:
            self.wait_ready_blocking()
        except BaseException:
            self.child.stop_blocking()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.child.stop_blocking()

    async def __aenter__(self) -> Self:
        self.start()
        try:
            await self.wait_ready()
        except BaseException:
            await self.child.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.child.stop()
