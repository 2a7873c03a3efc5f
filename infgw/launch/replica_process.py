"""A model-server replica as a launcher child: ``python -m sim`` (or a stand-in program that takes the same
``--host``/``--port``/``--name`` and prints the same readiness line), ready once it announces its port."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from sim.readiness_line import SimReadinessLine

from infgw.launch.announcing_process import READY_TIMEOUT_S, AnnouncingProcess
from infgw.launch.command_line import with_flags

LOOPBACK = "127.0.0.1"
SIM_PROGRAM = (sys.executable, "-m", "sim")


class ReplicaProcess(AnnouncingProcess[SimReadinessLine]):
    """``program`` with ``args`` (vLLM's or the simulator's flags) on ``host:port`` (0: a free one)."""

    kind = "replica"
    line_model = SimReadinessLine

    def __init__(
        self,
        name: str,
        log_path: Path,
        args: Sequence[str] = (),
        *,
        host: str = LOOPBACK,
        port: int = 0,
        program: Sequence[str] = SIM_PROGRAM,
        env: Mapping[str, str] | None = None,
        ready_timeout_s: float = READY_TIMEOUT_S,
    ) -> None:
        self.host, self.port = host, port
        self._program = list(program)
        self._args = list(args)
        super().__init__(name, log_path, env, ready_timeout_s)

    def _argv(self) -> list[str]:
        flags = {"--host": self.host, "--port": str(self.port), "--name": self.name}
        return [*self._program, *with_flags(self._args, flags)]

    def _take(self, line: SimReadinessLine) -> None:
        self.port = line.port

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.hostport}"
