"""The endpoint picker as a launcher child: ``python -m picker`` on a static endpoints file
(``picker.datastore.StaticPoolFile``), ready once it announces the ports it bound."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from picker.datastore.endpoints_file import StaticPoolFile
from picker.readiness_line import PickerReadinessLine

from infgw.launch.announcing_process import READY_TIMEOUT_S, AnnouncingProcess
from infgw.launch.command_line import with_flags

LOOPBACK = "127.0.0.1"


class PickerProcess(AnnouncingProcess[PickerReadinessLine]):
    """``args`` (the picker's flags) with the endpoints file, bind address and ports set (0: a free one).
    ``endpoints``, when given, is written to ``endpoints_file`` before every start (and by
    :meth:`write_endpoints` while it runs: the picker reloads the file when it changes)."""

    kind = "picker"
    line_model = PickerReadinessLine

    def __init__(
        self,
        name: str,
        log_path: Path,
        endpoints_file: Path,
        args: Sequence[str] = (),
        *,
        endpoints: StaticPoolFile | None = None,
        bind_address: str = LOOPBACK,
        grpc_port: int = 0,
        health_port: int = 0,
        metrics_port: int = 0,
        env: Mapping[str, str] | None = None,
        ready_timeout_s: float = READY_TIMEOUT_S,
    ) -> None:
        self.endpoints_file = endpoints_file
        self.endpoints = endpoints
        self.bind_address = bind_address
        self.grpc_port, self.health_port, self.metrics_port = grpc_port, health_port, metrics_port
        self._args = list(args)
        super().__init__(name, log_path, env, ready_timeout_s)

    def _argv(self) -> list[str]:
        flags = {
            "--endpoints-file": str(self.endpoints_file),
            "--bind-address": self.bind_address,
            "--grpc-port": str(self.grpc_port),
            "--grpc-health-port": str(self.health_port),
            "--metrics-port": str(self.metrics_port),
        }
        return [sys.executable, "-m", "picker", *with_flags(self._args, flags)]

    def _prepare(self) -> None:
        if self.endpoints is not None:
            self.endpoints.write(self.endpoints_file)

    def _take(self, line: PickerReadinessLine) -> None:
        self.grpc_port, self.health_port, self.metrics_port = (
            line.grpc_port,
            line.health_port,
            line.metrics_port,
        )

    def write_endpoints(self, endpoints: StaticPoolFile) -> None:
        self.endpoints = endpoints
        endpoints.write(self.endpoints_file)

    @property
    def metrics_url(self) -> str:
        return f"http://{self.bind_address}:{self.metrics_port}/metrics"
