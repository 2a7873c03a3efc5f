"""GCPBackendPolicy (networking.gke.io/v1): balancing mode, timeout and logging of the LB backend.

The balancing fields are GKE-only (absent from the public CRD), so this model is their only check.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from components.crds.api_versions import GCP_BACKEND_POLICY, ApiKind
from components.crds.base import CrdModel
from components.crds.policy_target import PolicyTargetReference

# Metrics exported by AutoscalingMetric reach the load balancer under this prefix.
GKE_NAMED_METRIC_PREFIX = "gke.named_metrics."


class CustomMetric(CrdModel):
    name: str = Field(pattern=r"^gke\.named_metrics\.[A-Za-z0-9_.-]{1,64}$")
    dry_run: bool = False
    # Integer percent (1..100), not the Compute API's 0..1 `maxUtilization`.
    max_utilization_percent: int = Field(default=60, ge=1, le=100)


class BackendLogging(CrdModel):
    enabled: bool = True
    sample_rate: int | None = Field(default=None, ge=0, le=1_000_000)


class BackendPolicyConfig(CrdModel):
    timeout_sec: int | None = Field(default=None, ge=1, le=2_147_483_647)
    logging: BackendLogging | None = None
    balancing_mode: Literal["CUSTOM_METRICS", "IN_FLIGHT"] | None = None
    traffic_duration: Literal["LONG", "SHORT"] | None = None
    custom_metrics: list[CustomMetric] | None = None
    max_in_flight_requests_per_endpoint: int | None = Field(default=None, ge=1)
    dry_run: bool | None = None

    @model_validator(mode="after")
    def _one_balancing_mode(self) -> BackendPolicyConfig:
        # GKE documents CUSTOM_METRICS and IN_FLIGHT as mutually exclusive; each needs its own fields.
        if self.balancing_mode == "CUSTOM_METRICS":
            if not self.custom_metrics:
                raise ValueError("balancingMode CUSTOM_METRICS needs at least one customMetrics entry")
            if self.max_in_flight_requests_per_endpoint is not None:
                raise ValueError("maxInFlightRequestsPerEndpoint belongs to IN_FLIGHT, not CUSTOM_METRICS")
        elif self.balancing_mode == "IN_FLIGHT":
            if self.max_in_flight_requests_per_endpoint is None:
                raise ValueError("balancingMode IN_FLIGHT needs maxInFlightRequestsPerEndpoint")
            if self.custom_metrics:
                raise ValueError("customMetrics belong to CUSTOM_METRICS, not IN_FLIGHT")
        elif self.custom_metrics or self.max_in_flight_requests_per_endpoint is not None:
            raise ValueError("customMetrics / maxInFlightRequestsPerEndpoint need a balancingMode")
        return self


class GCPBackendPolicySpec(CrdModel):
    API: ClassVar[ApiKind] = GCP_BACKEND_POLICY

    target_ref: PolicyTargetReference
    default: BackendPolicyConfig
