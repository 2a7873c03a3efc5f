"""Gateway (gateway.networking.k8s.io/v1): the load balancer's listeners and addresses."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from components.crds.api_versions import GATEWAY, ApiKind
from components.crds.base import CrdModel

# GKE's address type for an ephemeral internal IP in one region of a cross-regional gateway.
GKE_EPHEMERAL_ADDRESS_TYPE = "networking.gke.io/ephemeral-ipv4-address"


class GatewayAddress(CrdModel):
    """One requested address; for cross-regional GKE gateways, one per region."""

    type: str | None = None
    value: str = Field(min_length=1, max_length=253)

    @classmethod
    def ephemeral_in_region(cls, region: str) -> GatewayAddress:
        return cls(type=f"{GKE_EPHEMERAL_ADDRESS_TYPE}/{region}", value=region)


class Listener(CrdModel):
    name: str = Field(min_length=1, max_length=253)
    protocol: Literal["HTTP", "HTTPS"]
    port: int = Field(ge=1, le=65535)
    hostname: str | None = None


class GatewaySpec(CrdModel):
    API: ClassVar[ApiKind] = GATEWAY

    gateway_class_name: str = Field(min_length=1, max_length=253)
    addresses: list[GatewayAddress] | None = Field(default=None, max_length=16)
    listeners: list[Listener] = Field(min_length=1, max_length=64)
