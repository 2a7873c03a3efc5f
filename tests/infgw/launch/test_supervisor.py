"""Child processes: a child that dies at start-up is reported with its log tail; stopping reaps the
whole process group, escalating to SIGKILL for a child that ignores SIGTERM."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp
import pytest

from infgw.launch.child_process import ChildExitedError, ChildProcess
from infgw.launch.readiness import NotReadyError, wait_http_ok
from infgw.launch.supervisor import ProcessSupervisor

pytestmark = pytest.mark.integration


def start(supervisor: ProcessSupervisor, name: str, argv: list[str]) -> ChildProcess:
    child = supervisor.track(ChildProcess(name, argv, supervisor.log_path(name)))
    child.start()
    return child


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"


async def test_child_dying_at_startup_is_reported_with_its_log(tmp_path: Path) -> None:
    supervisor = ProcessSupervisor(tmp_path)
    script = (
        "import sys; print('loading model'); print('error: port 1 is privileged', flush=True); sys.exit(3)"
    )
    child = start(supervisor, "replica:r-0", [sys.executable, "-c", script])
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(ChildExitedError) as raised:
                await wait_http_ok(session, child, "http://127.0.0.1:1/health", timeout_s=20)
    finally:
        await supervisor.stop_all()
    error = raised.value
    assert (error.name, error.returncode) == ("replica:r-0", 3)
    assert "error: port 1 is privileged" in str(error)
    assert str(tmp_path / "replica:r-0.log") in str(error)


async def test_child_that_never_gets_ready_times_out_naming_the_check(tmp_path: Path) -> None:
    supervisor = ProcessSupervisor(tmp_path)
    child = start(supervisor, "picker:p", [sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(
                NotReadyError, match=r"picker:p: GET http://127.0.0.1:1/health not ready after 0.3 s"
            ):
                await wait_http_ok(session, child, "http://127.0.0.1:1/health", timeout_s=0.3)
    finally:
        await supervisor.stop_all()
    assert child.returncode is not None


async def test_stop_reaps_the_group_and_escalates_to_sigkill(tmp_path: Path) -> None:
    supervisor = ProcessSupervisor(tmp_path)
    # The leader ignores SIGTERM and has a grandchild in its process group.
    script = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    child = start(supervisor, "envoy", [sys.executable, "-c", script])
    log = tmp_path / "envoy.log"
    for _ in range(200):
        if log.read_text().strip():
            break
        await asyncio.sleep(0.05)
    grandchild = int(log.read_text().split()[0])
    assert child.pid is not None and alive(child.pid) and alive(grandchild)
    await supervisor.stop_all(timeout_s=0.5)
    assert child.returncode is not None
    # SIGKILL is delivered asynchronously, and the orphaned grandchild is reaped by init, not by us.
    for _ in range(100):
        if not alive(grandchild):
            break
        await asyncio.sleep(0.05)
    assert not alive(grandchild)
    await supervisor.stop_all()  # idempotent
