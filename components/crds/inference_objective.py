"""InferenceObjective (inference.networking.x-k8s.io/v1alpha2): a named priority bound to one pool."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from components.crds.api_versions import INFERENCE_OBJECTIVE, INFERENCE_POOL, ApiKind
from components.crds.base import CrdModel


class PoolObjectReference(CrdModel):
    """Same-namespace reference to an InferencePool."""

    group: str = INFERENCE_POOL.group
    kind: str = INFERENCE_POOL.kind
    name: str = Field(min_length=1, max_length=253)


class InferenceObjectiveSpec(CrdModel):
    """Higher priority = more important; negative priorities are sheddable under saturation."""

    API: ClassVar[ApiKind] = INFERENCE_OBJECTIVE

    priority: int | None = None
    pool_ref: PoolObjectReference
