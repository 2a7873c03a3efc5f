"""``python -m policies.check PLAN.json``: run the pack over a saved plan (``infgw plan --json`` output),
e.g. as a separate CI step. Exit 0 clean, 1 a mandatory rule failed, 2 unreadable plan or bad config.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from policies.offline import load_pack_config, planned_from_records, run_pack
from policies.report import render_report
from policies.rule import PolicyConfigError

# How `infgw plan --json` writes values known only after apply.
PLAN_UNKNOWN_MARKER = "(known after apply)"
POLICY_VIOLATION_EXIT = 1
INVALID_INPUT_EXIT = 2


@dataclass(frozen=True, slots=True)
class _SavedResource:
    type: str
    name: str
    urn: str
    inputs: Mapping[str, Any]
    parent_urn: str = ""
    provider: str = ""
    dependencies: tuple[str, ...] = field(default_factory=tuple)


def read_saved_plan(path: Path) -> tuple[str, str, list[_SavedResource]]:
    """(project, stack, resources) of a plan JSON file; raises ValueError naming what is wrong."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise ValueError(f"plan file {path} does not exist; write one with `infgw plan --json {path}`") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"plan file {path} is not JSON: {err}") from err
    if not isinstance(document, Mapping) or not isinstance(document.get("resources"), list):
        raise ValueError(f"plan file {path} has no 'resources' list; is it `infgw plan --json` output?")
    resources = []
    for index, entry in enumerate(document["resources"]):
        missing = [key for key in ("type", "name", "urn", "inputs") if key not in entry]
        if missing:
            raise ValueError(f"plan file {path}: resources[{index}] lacks {', '.join(missing)}")
        resources.append(_SavedResource(
            type=entry["type"], name=entry["name"], urn=entry["urn"], inputs=entry["inputs"],
            parent_urn=entry.get("parent") or "", provider=entry.get("provider") or "",
            dependencies=tuple(entry.get("dependencies") or ()),
        ))
    return str(document.get("project", "project")), str(document.get("stack", "stack")), resources


def main(
    plan_file: Annotated[Path, typer.Argument(help="Plan JSON written by `infgw plan --json FILE`.")],
    policy_config: Annotated[
        Path | None, typer.Option("--policy-config", help="Policy config JSON (`--policy-pack-config` format).")
    ] = None,
) -> None:
    """Run the guardrail pack over a saved plan and print every violation."""
    try:
        config = load_pack_config(policy_config)
        project, stack, resources = read_saved_plan(plan_file)
    except (PolicyConfigError, ValueError) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(INVALID_INPUT_EXIT) from None
    report = run_pack(planned_from_records(resources, unknown_marker=PLAN_UNKNOWN_MARKER), config,
                      project=project, stack=stack)
    render_report(report, Console())
    if not report.passed:
        raise typer.Exit(POLICY_VIOLATION_EXIT)


if __name__ == "__main__":
    typer.run(main)
