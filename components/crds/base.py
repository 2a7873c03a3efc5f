"""Shared base for the CRD spec models: camelCase wire names, unknown fields rejected, frozen."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from components.crds.api_versions import ApiKind


class CrdModel(BaseModel):
    """A fragment of a custom resource. Python names are snake_case; `to_wire()` gives the API's camelCase.

    A top-level spec sets `API` (its group, version and kind); fragments inside a spec do not.
    """

    API: ClassVar[ApiKind]

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict Kubernetes expects (aliases, no unset optionals)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class LabelSelector(CrdModel):
    """`matchLabels`-only selector (what InferencePool, AutoscalingMetric and PodMonitoring accept)."""

    match_labels: dict[str, str] = Field(min_length=1, max_length=64)


class PortNumber(CrdModel):
    """`{number: N}`, the port shape of the Inference Extension APIs."""

    number: int = Field(ge=1, le=65535)
