"""HealthCheckPolicy (networking.gke.io/v1): how the load balancer health-checks model servers."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from components.crds.api_versions import HEALTH_CHECK_POLICY, ApiKind
from components.crds.base import CrdModel
from components.crds.policy_target import PolicyTargetReference


class HttpHealthCheck(CrdModel):
    # Fixed port: the public CRD's CEL forbids `port` with the default USE_SERVING_PORT.
    port_specification: Literal["USE_FIXED_PORT", "USE_NAMED_PORT", "USE_SERVING_PORT"] | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    request_path: str | None = None


class GrpcHealthCheck(CrdModel):
    port_specification: Literal["USE_FIXED_PORT", "USE_NAMED_PORT", "USE_SERVING_PORT"] | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    grpc_service_name: str | None = Field(default=None, max_length=1024)


class HealthCheck(CrdModel):
    """Exactly one protocol block, the one `type` names."""

    type: Literal["HTTP", "GRPC"] = "HTTP"
    http_health_check: HttpHealthCheck | None = None
    grpc_health_check: GrpcHealthCheck | None = None

    @model_validator(mode="after")
    def _block_matches_type(self) -> HealthCheck:
        blocks = {"HTTP": self.http_health_check, "GRPC": self.grpc_health_check}
        if blocks[self.type] is None or sum(block is not None for block in blocks.values()) != 1:
            raise ValueError(f"type {self.type} needs exactly its own block ({self.type.lower()}HealthCheck)")
        return self


class HealthCheckPolicyConfig(CrdModel):
    check_interval_sec: int | None = Field(default=None, ge=1, le=300)
    timeout_sec: int | None = Field(default=None, ge=1, le=300)
    healthy_threshold: int | None = Field(default=None, ge=1, le=10)
    unhealthy_threshold: int | None = Field(default=None, ge=1, le=10)
    config: HealthCheck

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> HealthCheckPolicyConfig:
        interval = self.check_interval_sec if self.check_interval_sec is not None else 5
        if self.timeout_sec is not None and self.timeout_sec > interval:
            raise ValueError(f"timeoutSec ({self.timeout_sec}) must be <= checkIntervalSec ({interval})")
        return self


class HealthCheckPolicySpec(CrdModel):
    API: ClassVar[ApiKind] = HEALTH_CHECK_POLICY

    target_ref: PolicyTargetReference
    default: HealthCheckPolicyConfig
