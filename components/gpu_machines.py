"""Which accelerator, and how many, each GPU machine type carries (GKE rejects any other combination).

Facts from the public Compute Engine "GPU machine types" page. The A3 High family is what the seeds use
(a3-highgpu-2g = 2 x nvidia-h100-80gb); A2, A3 Mega/Ultra and G2 are listed so smaller or newer pools are
checked the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class GpuMachine:
    accelerator_type: str
    accelerator_count: int


def _family(prefix: str, accelerator: str, counts: Mapping[str, int]) -> dict[str, GpuMachine]:
    return {f"{prefix}{suffix}": GpuMachine(accelerator, count) for suffix, count in counts.items()}


GPU_MACHINES: Mapping[str, GpuMachine] = MappingProxyType(
    {
        **_family("a3-highgpu-", "nvidia-h100-80gb", {"1g": 1, "2g": 2, "4g": 4, "8g": 8}),
        **_family("a3-megagpu-", "nvidia-h100-mega-80gb", {"8g": 8}),
        **_family("a3-ultragpu-", "nvidia-h200-141gb", {"8g": 8}),
        **_family("a2-highgpu-", "nvidia-tesla-a100", {"1g": 1, "2g": 2, "4g": 4, "8g": 8}),
        **_family("a2-megagpu-", "nvidia-tesla-a100", {"16g": 16}),
        **_family("a2-ultragpu-", "nvidia-a100-80gb", {"1g": 1, "2g": 2, "4g": 4, "8g": 8}),
        **_family(
            "g2-standard-",
            "nvidia-l4",
            {"4": 1, "8": 1, "12": 1, "16": 1, "32": 1, "24": 2, "48": 4, "96": 8},
        ),
    }
)


def gpu_machine_problem(
    machine_type: str, accelerator_type: str, accelerator_count: int
) -> tuple[str, str] | None:
    """(offending key, why) when the triple cannot form a node pool, or None when GKE would accept it."""
    machine = GPU_MACHINES.get(machine_type)
    if machine is None:
        families = sorted({name.rsplit("-", 1)[0] + "-*" for name in GPU_MACHINES})
        return (
            "machineType",
            f"{machine_type!r} is not a known GPU machine type; use one of {', '.join(families)}",
        )
    if accelerator_type != machine.accelerator_type:
        return "acceleratorType", (
            f"{machine_type} carries {machine.accelerator_type}, not {accelerator_type}; "
            f"set acceleratorType: {machine.accelerator_type}"
        )
    if accelerator_count != machine.accelerator_count:
        matching = next(
            (
                name
                for name, spec in GPU_MACHINES.items()
                if spec.accelerator_type == accelerator_type and spec.accelerator_count == accelerator_count
            ),
            None,
        )
        fix = f"set acceleratorCount: {machine.accelerator_count}"
        if matching is not None:
            fix += f", or machineType: {matching} for {accelerator_count} GPUs"
        return (
            "acceleratorCount",
            f"{machine_type} carries {machine.accelerator_count} x {accelerator_type}, not {accelerator_count}; {fix}",
        )
    return None
