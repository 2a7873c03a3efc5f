"""Run the Pulumi program (the project's real `__main__.py`) under a PlanRecorder and collect the Plan."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi

from components.config.sources import RawStackConfig
from infgw.plan.model import SECRET, Plan
from infgw.plan.recorder import PlanRecorder, normalise_engine_value


def _engine_value(value: Any) -> str:
    """How the Pulumi engine hands config to a program: text, with objects and lists as JSON."""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


async def _resolve_exports(exports: dict[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for name, value in exports.items():
        output = pulumi.Output.from_input(value)
        if await output.is_secret():
            resolved[name] = SECRET
            continue
        secrets: list[str] = []
        resolved[name] = normalise_engine_value(await output.future(with_unknowns=True), "", secrets, [])
    return resolved


def run_program(recorder: PlanRecorder, raw: RawStackConfig, program: Path) -> Plan:
    """Execute `program` with `raw` as its stack config; every registration lands in the returned Plan.

    The program runs in this process; exceptions (including SystemExit from a config error) propagate.
    """
    recorder.clear()
    pulumi.runtime.set_all_config(
        {key: _engine_value(value) for key, value in raw.values.items()}, secret_keys=sorted(raw.secret_keys)
    )
    root = pulumi.runtime.get_root_resource()
    # The mock runtime's root Stack keeps its exports in `outputs`, which the Resource type does not declare.
    exports: dict[str, Any] = root.outputs if root is not None else {}  # type: ignore[attr-defined]
    exports.clear()
    collected: dict[str, Any] = {}

    def program_then_exports() -> pulumi.Output[None]:
        runpy.run_path(str(program), run_name="__main__")

        async def collect() -> None:
            collected.update(await _resolve_exports(dict(exports)))

        return pulumi.Output.from_input(collect())

    pulumi.runtime.test(program_then_exports)()  # type: ignore[no-untyped-call]  # untyped in pulumi
    return Plan(
        project=pulumi.get_project(),
        stack=raw.stack,
        # Registration order depends on async scheduling; URN order is stable run to run.
        resources=tuple(sorted(recorder.planned, key=lambda resource: resource.urn)),
        outputs=collected,
    )
