"""The plan's policy step: run the guardrail pack (policies/) over the planned resources and print it.
Stack config supplies what only it knows (the backend's estimated p99); ``--policy-config`` wins over it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from policies.offline import PackConfig, load_pack_config, planned_from_records, run_pack
from policies.report import render_report

POLICY_VIOLATION_EXIT = 1


def policy_defaults(stack_config: Any) -> dict[str, dict[str, Any]]:
    """Per-rule policy properties implied by the validated stack config."""
    services = getattr(stack_config, "services", None)
    p99 = getattr(getattr(services, "backend_policy", None), "p99_latency_s", None)
    return {"backend-timeout-covers-p99": {"p99LatencySec": p99}} if p99 is not None else {}


def load_policy_config(path: Path | None, stack_config: Any) -> PackConfig:
    """Validated pack config; raises PolicyConfigError (naming the key) before anything is planned."""
    return load_pack_config(path, defaults=policy_defaults(stack_config))


def check_plan(plan: Any, config: PackConfig, console: Console) -> bool:
    """Runs the pack over ``plan`` and prints the result; False when a mandatory rule is violated."""
    from infgw.plan.model import UNKNOWN

    report = run_pack(
        planned_from_records(plan.resources, unknown_marker=UNKNOWN),
        config,
        project=plan.project,
        stack=plan.stack,
    )
    render_report(report, console)
    return report.passed
