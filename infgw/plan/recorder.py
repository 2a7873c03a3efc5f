"""PlanRecorder: the Pulumi mock monitor that records every resource registration of a program.

Install it once per process (`PlanRecorder.install`); `pulumi.runtime.set_mocks` must not be called twice
in one process (later calls strand resources created against the first). Providers never run: each
resource's state is its own inputs, so anything a provider would compute (ids, endpoints, emails) stays
unknown in preview, exactly as `pulumi preview` shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.output import Unknown
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks

from infgw.plan.model import SECRET, UNKNOWN, PlannedResource


class _InputsAsState(Mocks):
    """Providers that compute nothing: state = inputs; ids unknown in preview."""

    def __init__(self, preview: bool) -> None:
        self.preview = preview

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        return ("" if self.preview else f"{args.name}-id"), dict(args.inputs)

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        # Data sources would reach the cloud; the program avoids them. One that slips in gets empty
        # fields (None): visibly missing rather than invented.
        return {}, None


def normalise_engine_value(value: Any, path: str, secrets: list[str], unknowns: list[str]) -> Any:
    """Engine values -> plain JSON-able values with SECRET/UNKNOWN markers (numbers stay floats, as the
    engine and policy packs see them: 8000 arrives as 8000.0)."""
    if rpc.is_rpc_secret(value):
        secrets.append(path or "(root)")
        return SECRET
    if isinstance(value, Unknown):
        unknowns.append(path or "(root)")
        return UNKNOWN
    if isinstance(value, dict):
        return {
            key: normalise_engine_value(item, f"{path}.{key}" if path else key, secrets, unknowns)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            normalise_engine_value(item, f"{path}[{index}]", secrets, unknowns)
            for index, item in enumerate(value)
        ]
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    return value


def _custom_timeouts(request: Any) -> dict[str, str]:
    timeouts = request.customTimeouts
    return {
        operation: value
        for operation in ("create", "update", "delete")
        if (value := getattr(timeouts, operation, ""))
    }


class PlanRecorder(MockMonitor):
    """Mock monitor that keeps a PlannedResource for every RegisterResource request."""

    def __init__(self, preview: bool = True) -> None:
        super().__init__(_InputsAsState(preview))
        self.preview = preview
        self.planned: list[PlannedResource] = []

    @classmethod
    def install(cls, project: str, stack: str, preview: bool = True) -> PlanRecorder:
        """Create the recorder and make it this process's Pulumi runtime (call once per process)."""
        recorder = cls(preview=preview)
        pulumi.runtime.set_mocks(
            recorder.mocks, project=project, stack=stack, preview=preview, monitor=recorder
        )
        return recorder

    def clear(self) -> None:
        self.planned.clear()

    def record(self, build: Callable[[], object]) -> list[PlannedResource]:
        """Run `build` (which creates resources) as a Pulumi program; return what it registered."""
        self.clear()

        def program() -> None:
            build()

        pulumi.runtime.test(program)()  # type: ignore[no-untyped-call]  # pulumi's test helper is untyped
        return sorted(self.planned, key=lambda resource: resource.urn)

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]  # untyped in pulumi
        if request.type == "pulumi:pulumi:Stack":
            return response
        secrets: list[str] = []
        unknowns: list[str] = []
        inputs = normalise_engine_value(rpc.deserialize_properties(request.object), "", secrets, unknowns)
        self.planned.append(
            PlannedResource(
                type=request.type,
                name=request.name,
                urn=response.urn,
                custom=bool(request.custom),
                inputs=inputs,
                parent_urn=request.parent,
                provider=request.provider,
                dependencies=tuple(request.dependencies),
                secret_paths=tuple(secrets),
                unknown_paths=tuple(unknowns),
                custom_timeouts=_custom_timeouts(request),
            )
        )
        return response
