"""What a plan is: the resources a program registers, with inputs as the engine receives them.

Inputs keep the engine's camelCase names (as policy packs see them). Values the engine would only know
after apply are the UNKNOWN marker; secret values are replaced by the SECRET marker and their paths listed
in `secret_paths`, so a plan never carries a secret in clear.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from policies.check import PLAN_UNKNOWN_MARKER


class PlanMarker(str):
    """A string stand-in for a value the plan cannot or must not show (stays JSON-serialisable)."""

    __slots__ = ()


UNKNOWN = PlanMarker(PLAN_UNKNOWN_MARKER)  # the text the policy pack reads back from a saved plan
SECRET = PlanMarker("[secret]")


@dataclass(frozen=True)
class PlannedResource:
    """One RegisterResource call: a custom resource, a component, or a provider."""

    type: str
    name: str
    urn: str
    custom: bool
    inputs: dict[str, Any]
    parent_urn: str = ""
    provider: str = ""
    dependencies: tuple[str, ...] = ()
    secret_paths: tuple[str, ...] = ()
    unknown_paths: tuple[str, ...] = ()
    # The `custom_timeouts` resource option as the engine receives it ({"create": "30m", ...}).
    custom_timeouts: dict[str, str] = field(default_factory=dict)

    @property
    def is_component(self) -> bool:
        return not self.custom and not self.type.startswith("pulumi:providers:")

    def get(self, path: str, default: Any = None) -> Any:
        """Input at a dotted path ('nodeConfig.guestAccelerators[0].type'); `default` when absent."""
        value: Any = self.inputs
        for part in path.replace("]", "").replace("[", ".").split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return default
        return value

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "urn": self.urn,
            "custom": self.custom,
            "parent": self.parent_urn,
            "provider": self.provider,
            "dependencies": list(self.dependencies),
            "inputs": self.inputs,
            "secretPaths": list(self.secret_paths),
            "unknownPaths": list(self.unknown_paths),
            "customTimeouts": dict(self.custom_timeouts),
        }


@dataclass(frozen=True)
class Plan:
    """Every resource of one stack's program, in registration order, plus its stack outputs."""

    project: str
    stack: str
    resources: tuple[PlannedResource, ...]
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_token: str) -> list[PlannedResource]:
        return [resource for resource in self.resources if resource.type == type_token]

    def children_of(self, parent_urn: str) -> list[PlannedResource]:
        return [resource for resource in self.resources if resource.parent_urn == parent_urn]

    def counts(self) -> dict[str, int]:
        """Resources per type token (custom resources and providers; components are groupings)."""
        counted = Counter(resource.type for resource in self.resources if not resource.is_component)
        return dict(sorted(counted.items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "counts": self.counts(),
            "resources": [resource.to_json() for resource in self.resources],
            "outputs": self.outputs,
        }
