"""Envoy with a generated bootstrap, as a launcher child: the bootstrap and the admin address file in a work
directory (a temporary one unless given), ready once the admin /ready says LIVE, the listener port read
back from the admin API (ports in the bootstrap may be 0)."""

from __future__ import annotations

import json
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from infgw.envoy.binary import EnvoyError, find_envoy_binary
from infgw.launch.child_process import ChildExitedError, ChildProcess
from infgw.launch.readiness import NotReadyError, poll_blocking, wait_envoy_ready

ADMIN_TIMEOUT_S = 2.0


class EnvoyProcess:
    """One Envoy. ``with`` / ``async with`` start it and wait until ready, and stop it; or :meth:`spawn`
    (start without waiting, for a caller that waits alongside other children) and :meth:`stop`.

    ``work_dir`` receives the bootstrap, the admin address file and (unless ``log_path``) the log.
    ``admin_url``, ``listener_port`` (the first listener's) and ``listener_ports`` (every listener's, by
    name) are set once ready.
    """

    def __init__(
        self,
        bootstrap: dict[str, Any],
        *,
        work_dir: Path | None = None,
        name: str = "envoy",
        log_path: Path | None = None,
        binary: Path | None = None,
        concurrency: int = 1,
        log_level: str = "warning",
        extra_args: Sequence[str] = (),
        ready_timeout_s: float = 30.0,
    ) -> None:
        self._bootstrap = bootstrap
        self._temporary_dir: tempfile.TemporaryDirectory[str] | None = None
        if work_dir is None:
            self._temporary_dir = tempfile.TemporaryDirectory(prefix="envoy-")
            work_dir = Path(self._temporary_dir.name)
        self.work_dir = work_dir
        self.ready_timeout_s = ready_timeout_s
        self.admin_address_path = work_dir / "admin-address"
        config_path = work_dir / "bootstrap.json"
        argv = [
            str(binary or find_envoy_binary()),
            "-c", str(config_path),
            "--admin-address-path", str(self.admin_address_path),
            "--concurrency", str(concurrency),
            "--log-level", log_level,
            "--disable-hot-restart",  # several gateways on one host must not share hot-restart memory
            *extra_args,
        ]  # fmt: skip
        self.child = ChildProcess(name, argv, log_path or work_dir / "envoy.log")
        self.admin_url = ""
        self.listener_port = 0
        self.listener_ports: dict[str, int] = {}

    @property
    def log_path(self) -> Path:
        return self.child.log_path

    def spawn(self) -> ChildProcess:
        """Write the bootstrap and start Envoy; :meth:`check_ready` (or a ``wait_envoy_ready``) follows."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "bootstrap.json").write_text(json.dumps(self._bootstrap, indent=2), encoding="utf-8")
        self.admin_address_path.unlink(missing_ok=True)
        self.child.start()
        return self.child

    def check_ready(self) -> bool:
        """Whether the admin /ready says LIVE; then ``admin_url`` and ``listener_port`` are set."""
        address = self.admin_address_path.read_text().strip() if self.admin_address_path.exists() else ""
        if not address:
            return False
        self.admin_url = f"http://{address}"
        if self._admin_get("/ready") != "LIVE":
            return False
        try:
            listeners = json.loads(self._admin_get("/listeners?format=json"))
        except ValueError:
            return False
        self.listener_ports = {
            status["name"]: int(status["local_address"]["socket_address"]["port_value"])
            for status in listeners["listener_statuses"]
        }
        self.listener_port = next(iter(self.listener_ports.values()))
        return True

    def _admin_get(self, path: str) -> str:
        try:
            with urllib.request.urlopen(self.admin_url + path, timeout=ADMIN_TIMEOUT_S) as response:
                return str(response.read().decode()).strip()
        except OSError:
            return ""

    def stats(self, prefix: str = "") -> dict[str, int]:
        """Counters and gauges from the admin endpoint, filtered by prefix."""
        text = self._admin_get(f"/stats?filter={prefix}" if prefix else "/stats")
        values: dict[str, int] = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            if value.strip().isdigit():
                values[name] = int(value)
        return values

    def start(self) -> Self:
        """Spawn and wait until ready (blocking). Raises EnvoyError with Envoy's log tail if it exits or is
        not ready in ``ready_timeout_s``; nothing is left running then."""
        try:
            self.spawn()
            poll_blocking(
                self.child, "Envoy /ready", self.ready_timeout_s, lambda: self.check_ready() or None
            )
        except (ChildExitedError, NotReadyError) as error:
            self.stop()
            raise EnvoyError(str(error)) from None
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, SIGKILL after ``timeout_s``; removes a temporary work directory."""
        self.child.stop_blocking(timeout_s)
        self._remove_temporary_dir()

    def _remove_temporary_dir(self) -> None:
        if self._temporary_dir is not None:
            self._temporary_dir.cleanup()
            self._temporary_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        try:
            self.spawn()
            await wait_envoy_ready(self, self.ready_timeout_s)
        except (ChildExitedError, NotReadyError) as error:
            await self.aclose()
            raise EnvoyError(str(error)) from None
        except BaseException:
            await self.aclose()
            raise
        return self

    async def aclose(self, timeout_s: float = 10.0) -> None:
        await self.child.stop(timeout_s)
        self._remove_temporary_dir()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()
