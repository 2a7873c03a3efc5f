"""The launcher's readiness: a child is ready when it prints its structured line (not a regex over free
text); a restart waits for the new run's line and comes back on the announced ports."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from picker.datastore.endpoints_file import StaticEndpoint, StaticPoolFile, parse_static_pool
from sim.readiness_line import SimReadinessLine

from infgw.launch.child_process import ChildExitedError, ChildProcess
from infgw.launch.picker_process import PickerProcess
from infgw.launch.readiness import NotReadyError, wait_ready_line_blocking
from infgw.launch.replica_process import ReplicaProcess

pytestmark = pytest.mark.integration


def script(*lines: str, then: str = "import time; time.sleep(60)") -> list[str]:
    prints = "; ".join(f"print({line!r}, flush=True)" for line in lines)
    return [sys.executable, "-c", f"{prints}; {then}"]


def test_the_ready_line_is_found_among_other_output(tmp_path: Path) -> None:
    line = SimReadinessLine(url="http://127.0.0.1:5", port=5, name="r").render()
    noise = ("listening on 7 (free text)", '{"event": "listening"}', '{"not": "it"}', line)
    with ChildProcess("replica:r", script(*noise), tmp_path / "r.log") as child:
        announced = wait_ready_line_blocking(child, SimReadinessLine, 20)
    assert announced == SimReadinessLine(url="http://127.0.0.1:5", port=5, name="r")


def test_a_child_that_exits_without_its_line_fails_at_once_with_its_log(tmp_path: Path) -> None:
    with ChildProcess(
        "replica:r", script("bad flag --x", then="raise SystemExit(2)"), tmp_path / "r.log"
    ) as child:
        with pytest.raises(ChildExitedError, match="bad flag --x") as raised:
            wait_ready_line_blocking(child, SimReadinessLine, 20)
    assert raised.value.returncode == 2


def test_a_silent_child_is_not_ready_after_the_bound(tmp_path: Path) -> None:
    with ChildProcess("replica:r", script("loading"), tmp_path / "r.log") as child:
        with pytest.raises(NotReadyError, match=r"its readiness line not ready after 0\.3 s"):
            wait_ready_line_blocking(child, SimReadinessLine, 0.3)


def test_a_restart_reads_the_new_runs_line_not_the_old_one(tmp_path: Path) -> None:
    first = SimReadinessLine(url="http://127.0.0.1:5", port=5, name="r").render()
    child = ChildProcess("replica:r", script(first), tmp_path / "r.log")
    with child:
        wait_ready_line_blocking(child, SimReadinessLine, 20)
    second = SimReadinessLine(url="http://127.0.0.1:6", port=6, name="r").render()
    child.argv = script("restarting", second)
    with child:
        assert wait_ready_line_blocking(child, SimReadinessLine, 20).port == 6
    assert first in (tmp_path / "r.log").read_text()  # a restart appends to the log


def test_a_simulated_replica_on_port_0_restarts_on_the_port_it_announced(tmp_path: Path) -> None:
    with ReplicaProcess("r-0", tmp_path / "r-0.log", ["--profile", "zero-latency"]) as replica:
        port = replica.port
        assert port > 0 and replica.child.name == "replica:r-0"
        replica.restart_blocking()
        assert replica.port == port and replica.announced is not None and replica.announced.port == port
    assert not replica.child.running


async def test_a_picker_announces_its_ports_and_reads_the_endpoints_file_it_was_given(tmp_path: Path) -> None:
    endpoints = StaticPoolFile.of([StaticEndpoint(name="r-0", address="127.0.0.1", port=9)], {"batch": -1})
    picker = PickerProcess(
        "p", tmp_path / "p.log", tmp_path / "endpoints.yaml", ["--secure-serving=false"], endpoints=endpoints
    )
    async with picker:
        assert picker.announced is not None and not picker.announced.tls
        assert 0 not in (picker.grpc_port, picker.health_port, picker.metrics_port)
        assert picker.metrics_url == f"http://127.0.0.1:{picker.metrics_port}/metrics"
    assert parse_static_pool((tmp_path / "endpoints.yaml").read_text()) == endpoints
    assert not picker.child.running
