"""A stack's Kubernetes manifests, rendered by the offline plan exactly as `pulumi up` would apply them,
read back for the local gateway: `infgw plan --stack S --manifests DIR` in a child process (the Pulumi
mocks can be installed once per process), then the gateway cluster's folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

# `infgw plan` exit codes: 1 = a mandatory policy is violated (manifests are written; serving locally is
# still useful to see why), 2 = bad config or a deploy-rehearsal finding (nothing would deploy).
POLICY_VIOLATION_EXIT = 1
# The policy report's verdict when a mandatory rule is violated (policies/report.py).
POLICY_BLOCKED = "violation(s); blocked."
# The full plan, written next to the cluster folders: where each cluster runs (infgw.local.regions).
PLAN_JSON = "plan.json"


class RenderError(RuntimeError):
    """The stack did not plan; the message carries the plan's own explanation."""


def _problem_lines(output: str) -> str:
    keep = [
        line
        for line in output.splitlines()
        if line.strip() and not line.startswith(("│", "┃", "┏", "┗", "┡", "└", "├", "╭", "╰", "━", "┌"))
    ]
    return "\n".join(keep[-30:])


def render_stack(stack: str, project_dir: Path, out_dir: Path) -> tuple[Path, list[str]]:
    """Plan `stack` into `out_dir`; return the folder of the cluster that hosts the Gateway, and notes.

    Raises:
        RenderError: the stack config is invalid or the deploy rehearsal failed (nothing could deploy).
    """
    command = [
        sys.executable, "-m", "infgw", "plan",
        "--stack", stack, "--project-dir", str(project_dir), "--manifests", str(out_dir),
        "--json", str(out_dir / PLAN_JSON),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    notes: list[str] = []
    blocked_by_policy = result.returncode == POLICY_VIOLATION_EXIT and POLICY_BLOCKED in result.stdout
    if blocked_by_policy:
        notes.append(f"the policy pack blocks this stack for `pulumi up`:\n{_problem_lines(result.stdout)}")
    elif result.returncode != 0:
        raise RenderError(_problem_lines(result.stderr + result.stdout))
    return gateway_cluster_dir(out_dir), notes


def read_objects(cluster_dir: Path) -> list[dict[str, Any]]:
    """Every object of one cluster folder, in apply order."""
    objects: list[dict[str, Any]] = []
    for path in sorted(cluster_dir.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(document, dict):
            objects.append(document)
    return objects


def gateway_cluster_dir(out_dir: Path) -> Path:
    """The cluster whose folder holds the Gateway: where requests enter (the fleet's config cluster)."""
    clusters = sorted(path for path in out_dir.iterdir() if path.is_dir())
    for cluster in clusters:
        if any(obj.get("kind") == "Gateway" for obj in read_objects(cluster)):
            return cluster
    if not clusters:
        raise RenderError(f"the plan wrote no cluster folder under {out_dir}")
    return clusters[0]
