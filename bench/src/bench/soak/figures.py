"""``python -m bench.soak.figures``: the measured figures of docs/reliability.md, as tables.

Replica loss: one of 4 replicas SIGKILLed under steady non-streaming load, with the override-host retry
path (what ``make local`` routes with) and, for comparison, the Inference Extension's reference routing
(ORIGINAL_DST, primary only; infgw.envoy's default). Overload: a priority >= 0 client's
TTFT alone and under a sheddable flood, and how fast the flood is refused, with the replicas on vLLM's
default fcfs scheduling and, with engine priority, on ``--scheduling-policy priority`` (the picker then
writes each objective's priority into the request body)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench.soak.gateway import sim_replica, start_gateway, wait_until
from bench.soak.load import run_load
from bench.soak.overload import OBJECTIVES, SIM_ARGS, run_overload
from bench.stats.percentiles import percentile_or_nan


async def replica_loss(retry_path: bool, workers: int, seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="figures-loss-") as work:
        work_dir = Path(work)
        replicas = [sim_replica(work_dir, f"replica-{i}") for i in range(4)]
        gateway = start_gateway(
            work_dir,
            replicas,
            max_endpoints=3 if retry_path else 1,
            envoys={"main": {"retry_path": retry_path}},
        )
        try:
            load = asyncio.create_task(run_load(gateway.url(), workers=workers, duration_s=seconds))
            await asyncio.sleep(seconds / 3)
            replicas[1].child.kill()
            drop_s = await asyncio.to_thread(wait_until, lambda: gateway.picker.ready_pods() == 3, "drop")
            result = await load
        finally:
            gateway.stop()
    return {
        "retry path": (
            "override-host + fallbacks (make local's routing)"
            if retry_path
            else "ORIGINAL_DST, primary only (Inference Extension reference)"
        ),
        "requests": len(result.outcomes),
        "lost": len(result.lost),
        "lost statuses": {s: n for s, n in result.statuses().items() if s != 200} or "-",
        "picker drop (s)": f"{drop_s:.3f}",
    }


# The picker's flow control: requests wait in the picker, by priority, until a replica has capacity.
FLOW_CONTROL = {
    "saturationDetector": {"queueDepthThreshold": 1},
    "flowControl": {"enabled": True, "maxQueuedRequests": 64, "requestTtl": "30s"},
}
# The picker's sheddable headroom (a project extension): at most one sheddable request in flight per
# replica, so one of each replica's two sequence slots stays free for priority >= 0 traffic.
HEADROOM = {"sheddableHeadroom": {"maxInFlightPerEndpoint": 1}}
ADMISSIONS: dict[str, dict[str, object] | None] = {
    "legacy (EPP default)": None,
    "flow control": FLOW_CONTROL,
    "headroom": HEADROOM,
    "flow control + headroom": {**FLOW_CONTROL, **HEADROOM},
}


# vLLM's --scheduling-policy on the replicas; the picker gets the same value as
# --model-server-scheduling-policy, as the stack's services.pools[].schedulingPolicy sets both.
ENGINE_POLICIES = ("fcfs", "priority")


async def overload(
    critical_requests: int, flood_workers: int, admission_name: str, pause_after_429_s: float, engine: str
) -> list[dict[str, object]]:
    rows = []
    unloaded_p90_s = float("nan")
    with tempfile.TemporaryDirectory(prefix="figures-overload-") as work:
        work_dir = Path(work)
        sim_args = (*SIM_ARGS, "--scheduling-policy", engine)
        replicas = [sim_replica(work_dir, f"replica-{i}", *sim_args) for i in range(2)]
        admission = ADMISSIONS[admission_name]
        gateway = start_gateway(
            work_dir,
            replicas,
            objectives=OBJECTIVES,
            admission=admission,
            picker_args=("--model-server-scheduling-policy", engine),
        )
        try:
            for flood in (False, True):
                result = await run_overload(
                    gateway,
                    critical_requests=critical_requests,
                    flood_workers=flood_workers,
                    flood=flood,
                    flood_pause_after_429_s=pause_after_429_s,
                )
                before, after = result.picker_rss_kib
                p90_s = percentile_or_nan(result.critical_ttft_s, 90)
                if not flood:
                    unloaded_p90_s = p90_s  # the baseline, measured on the same gateway just before
                requests = critical_requests + sum(result.sheddable_statuses.values())
                flood_label = f"{flood_workers} clients" if flood else "none"
                if flood and pause_after_429_s > 0:
                    flood_label += f", {pause_after_429_s * 1000:.0f} ms pause after 429"
                rows.append(
                    {
                        "admission": admission_name,
                        "engine": engine,
                        "sheddable flood": flood_label,
                        "critical ok": f"{result.critical_statuses[200]}/{critical_requests}",
                        "critical TTFT p50 (s)": f"{percentile_or_nan(result.critical_ttft_s, 50):.3f}",
                        "critical TTFT p90 (s)": f"{p90_s:.3f}",
                        "p90 / unloaded p90": f"{p90_s / unloaded_p90_s:.2f}" if flood else "1",
                        "sheddable 200/429": f"{result.sheddable_statuses[200]}/{result.sheddable_statuses[429]}",
                        "sheddable 200/s": f"{result.sheddable_statuses[200] / result.duration_s:.1f}",
                        "preemptions": result.preemptions,
                        "recomputed tokens": result.recomputed_tokens,
                        "429 p90 (s)": f"{percentile_or_nan(result.rejection_latency_s, 90):.3f}",
                        "max waiting/replica": result.max_waiting_per_replica,
                        "max in system/replica": result.max_in_system_per_replica,
                        "picker RSS (MiB)": f"{before / 1024:.1f} -> {after / 1024:.1f}",
                        "picker CPU/request (ms)": f"{1000 * result.picker_cpu_s / requests:.2f}",
                    }
                )
        finally:
            gateway.stop()
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    headers = list(rows[0])
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in headers]
    print(" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(row[h]).ljust(w) for h, w in zip(headers, widths, strict=True)))
    print(flush=True)


async def main_async(args: argparse.Namespace) -> None:
    started = time.monotonic()
    if args.part in ("all", "loss"):
        print("Replica loss: 1 of 4 SIGKILLed under steady non-streaming load")
        print_table([await replica_loss(path, args.workers, args.seconds) for path in (True, False)])
    if args.part in ("all", "overload"):
        print("Overload: priority 10 client streaming, priority -1 flood (2 small replicas)")
        rows = []
        for engine in args.engine or ENGINE_POLICIES:
            for admission_name in args.admission or ADMISSIONS:
                rows += await overload(args.critical, args.flood, admission_name, args.flood_pause, engine)
        print_table(rows)
    print(f"({time.monotonic() - started:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak.figures", description=__doc__)
    parser.add_argument("--part", choices=["all", "loss", "overload"], default="all")
    parser.add_argument("--workers", type=int, default=8, help="replica loss: concurrent clients")
    parser.add_argument("--seconds", type=float, default=9.0, help="replica loss: load duration")
    parser.add_argument("--critical", type=int, default=20, help="overload: critical requests")
    parser.add_argument("--flood", type=int, default=16, help="overload: sheddable clients")
    parser.add_argument(
        "--flood-pause",
        type=float,
        default=0.0,
        help="overload: seconds a sheddable client pauses after a 429 (default 0: back to back)",
    )
    parser.add_argument(
        "--admission",
        action="append",
        choices=list(ADMISSIONS),
        help="overload: only these admission configs (repeatable; default: all)",
    )
    parser.add_argument(
        "--engine",
        action="append",
        choices=ENGINE_POLICIES,
        help="overload: only these replica scheduling policies (repeatable; default: both). priority: "
        "vLLM --scheduling-policy priority and the picker's --model-server-scheduling-policy priority",
    )
    # SIGTERM unwinds like Ctrl-C, so the gateway's processes are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    asyncio.run(main_async(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
