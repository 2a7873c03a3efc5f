"""The closed loop of ``envoy_overhead.run_closed_loop`` driven by wrk (a compiled HTTP/1.1 load generator;
Debian's ``wrk`` package: ``apt-get install -y wrk``): ``concurrency`` connections, one request at a time
each, rotating over the same ~1 KB completions bodies. A cheaper load generator for
``worker_scaling --harness native``; nothing in CI needs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.micro.picker.envoy_overhead import request_bodies

# wrk calls request() for every request and done() once; done() prints one JSON line the caller reads.
_SCRIPT = """
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
local bodies = {%(bodies)s}
local next_body = 0
request = function()
  next_body = next_body %% #bodies + 1
  return wrk.format(nil, nil, nil, bodies[next_body])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_SUMMARY {"requests": %%d, "duration_us": %%d, "status": %%d, "other": %%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


class WrkMissingError(RuntimeError):
    """wrk is not installed."""


@dataclass(frozen=True)
class WrkRun:
    completed: int
    errors: int
    elapsed_s: float
    cpu_s: float  # wrk's own user + system CPU


def wrk_binary() -> str:
    binary = shutil.which("wrk")
    if binary is None:
        raise WrkMissingError("wrk is not on PATH: install it (Debian: apt-get install -y wrk) or use --harness python")
    return binary


def run_wrk_closed_loop(url: str, concurrency: int, duration_s: float, seed: int) -> WrkRun:
    """``concurrency`` connections for ``duration_s`` (whole seconds, at least 1) on one wrk thread."""
    bodies = ", ".join(f"[==[{body.decode()}]==]" for body in request_bodies(512, seed))
    with tempfile.TemporaryDirectory(prefix="wrk-") as work_dir:
        script = Path(work_dir) / "closed_loop.lua"
        script.write_text(_SCRIPT % {"bodies": bodies}, encoding="utf-8")
        command = [wrk_binary(), "-t1", f"-c{concurrency}", f"-d{max(1, round(duration_s))}s",
                   "--timeout", "10s", "-s", str(script), url]  # fmt: skip
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as wrk:
            assert wrk.stdout is not None
            output = wrk.stdout.read()
            _, status, usage = os.wait4(wrk.pid, 0)
            wrk.returncode = os.waitstatus_to_exitcode(status)
    summary = next((line for line in output.splitlines() if line.startswith("WRK_SUMMARY ")), None)
    if wrk.returncode != 0 or summary is None:
        raise RuntimeError(f"wrk failed (exit {wrk.returncode}): {output[-2000:]}")
    fields = json.loads(summary.removeprefix("WRK_SUMMARY "))
    return WrkRun(
        completed=fields["requests"] - fields["status"],  # answers that were not 2xx or 3xx are counted in both
        errors=fields["status"] + fields["other"],
        elapsed_s=fields["duration_us"] / 1e6,
        cpu_s=usage.ru_utime + usage.ru_stime,
    )
