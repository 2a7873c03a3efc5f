"""Smoke test of ``python -m bench --quick``: real simulators, Envoy and the picker, end to end.

No timing assertions: it checks that every target ran, produced numbers and outputs, and that no
process the run started is left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench.targets.base import TargetUnavailable
from bench.targets.envoy_baseline import EnvoyBaseline

pytestmark = pytest.mark.integration

TARGETS = ["envoy-round-robin", "picker-recommended"]


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def test_quick_mode_runs_end_to_end_and_cleans_up(tmp_path):
    try:
        EnvoyBaseline("probe", "ROUND_ROBIN").check_available()
    except TargetUnavailable as err:
        pytest.skip(f"envoy is not available here: {err}")
    out_dir, work_dir = tmp_path / "out", tmp_path / "work"
    command = [sys.executable, "-m", "bench", "--quick", "--targets", ",".join(TARGETS),
               "--out", str(out_dir), "--work-dir", str(work_dir)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=55,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"}, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]

    result = json.loads((out_dir / "results.json").read_text())
    assert result["mode"] == "quick" and result["seed"] == 1
    # What a reader needs to reproduce or discount the numbers: code revision and machine load.
    assert result["versions"]["source"] and result["versions"]["picker-recommended"].startswith("picker ")
    assert {"load_average_start", "load_average_end"} <= set(result["machine"])
    assert "elapsed:" in completed.stderr
    [scenario] = result["scenarios"]
    assert [run["target"] for run in scenario["runs"]] == TARGETS
    for run in scenario["runs"]:
        assert run["status"] == "ok", run["reason"]
        summary = run["summary"]
        assert summary["sent"] > 0 and summary["ok"] == summary["sent"] and summary["errors"] == 0
        assert run["fleet_hit_rate"] is not None and 0.0 <= run["fleet_hit_rate"] <= 1.0
        assert sum(run["requests_per_replica"].values()) == summary["ok"]
        # Placement per conversation group adds up to the same successful requests.
        assert sum(sum(c.values()) for c in run["replicas_per_group"].values()) == summary["ok"]
    assert 0.0 < scenario["bound"]["capacity_hit_tokens"] <= scenario["bound"]["prompt_tokens"]

    table = (out_dir / "results.md").read_text()
    for target in TARGETS:
        assert f"| {target} |" in table
    assert (out_dir / "ttft-cdf-shared-prefix-chat.png").exists()
    assert (out_dir / "prefix-hit-rate.png").exists()
    # Every simulator and picker the run started was launched with a file under work_dir.
    assert _processes_mentioning(str(work_dir)) == []
