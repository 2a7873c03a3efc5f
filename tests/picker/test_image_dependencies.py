"""The picker image's dependency set, checked without Docker: a fresh venv gets only picker/pyproject.toml's
dependencies (with chat_prompt/, the Dockerfile's named context) and `python -m picker --help` runs from it
(minutes: it downloads from PyPI)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "picker" / "scripts" / "check_image_dependencies.py"


@pytest.mark.integration
@pytest.mark.slow
def test_the_picker_installs_and_runs_from_a_clean_environment(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--keep", str(tmp_path / "venv")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # pip freeze spells some names with "_" (prometheus_client): compare normalised names (PEP 503).
    installed = {
        re.sub(r"[-_.]+", "-", line.split("==")[0]).lower()
        for line in result.stdout.splitlines()
        if "==" in line
    }
    assert {
        "gke-inference-picker",
        "gke-inference-chat-prompt",
        "grpclib",
        "xds-protos",
        "aiohttp",
        "prometheus-client",
    } <= installed
    assert not {name for name in installed if name.startswith("pulumi")}
