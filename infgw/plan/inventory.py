"""Golden inventories: a compact, reviewable summary of planned resources (counts per type + key inputs
per resource), the form component tests compare against YAML files checked into tests/.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from infgw.plan.key_inputs import key_inputs
from infgw.plan.model import PlannedResource


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return str(value)  # markers become plain strings in YAML
    return value


def inventory(resources: Iterable[PlannedResource]) -> dict[str, Any]:
    """{'counts': {type: n}, 'values': {name: {'type': ..., key input: value}}} for custom resources and providers."""
    concrete = [resource for resource in resources if not resource.is_component]
    counts = Counter(resource.type for resource in concrete)
    values = {
        resource.name: {"type": resource.type, **_plain(key_inputs(resource))}
        for resource in sorted(concrete, key=lambda item: item.name)
    }
    return {"counts": dict(sorted(counts.items())), "values": values}


# What the `golden_inventory` test fixture is: compare (or, under --regen-inventories, rewrite) a golden file.
InventoryCheck = Callable[[Iterable[PlannedResource], Path], None]
