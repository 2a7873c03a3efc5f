"""One child process: kill() is a crash (SIGKILL at once, no SIGTERM grace) and reaps the process."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from infgw.launch.child_process import ChildProcess

pytestmark = pytest.mark.integration


async def test_kill_is_sigkill_without_grace_and_reaps(tmp_path: Path) -> None:
    # Ignores SIGTERM: only a SIGKILL ends it before its 60 s sleep.
    script = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(60)\n"
    child = ChildProcess("replica:victim", [sys.executable, "-c", script], tmp_path / "victim.log")
    child.start()
    try:
        for _ in range(200):
            if "up" in child.log_tail():
                break
            await asyncio.sleep(0.05)
        assert child.running
        child.kill()
        assert child.returncode == -signal.SIGKILL
        assert not child.running
        child.kill()  # a dead child: nothing to do
    finally:
        await child.stop(timeout_s=0.5)
