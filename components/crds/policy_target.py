"""The `targetRef` shared by GKE's HealthCheckPolicy and GCPBackendPolicy."""

from __future__ import annotations

from pydantic import Field

from components.crds.api_versions import GCP_INFERENCE_POOL_IMPORT, INFERENCE_POOL
from components.crds.base import CrdModel


class PolicyTargetReference(CrdModel):
    group: str
    kind: str
    name: str = Field(min_length=1, max_length=253)

    @classmethod
    def inference_pool(cls, name: str) -> PolicyTargetReference:
        """Single cluster: the policy attaches to the pool itself."""
        return cls(group=INFERENCE_POOL.group, kind=INFERENCE_POOL.kind, name=name)

    @classmethod
    def pool_import(cls, name: str) -> PolicyTargetReference:
        """Multi-cluster: the policy attaches to the import GKE creates in the config cluster."""
        return cls(group=GCP_INFERENCE_POOL_IMPORT.group, kind=GCP_INFERENCE_POOL_IMPORT.kind, name=name)

    @classmethod
    def service(cls, name: str) -> PolicyTargetReference:
        """A plain Service backend (the body-based router's callout)."""
        return cls(group="", kind="Service", name=name)
