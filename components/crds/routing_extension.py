"""GCPRoutingExtension (networking.gke.io/v1): an ext_proc callout the GKE load balancer runs before routing.

Used for the body-based router, which copies the request body's `model` into a header routes match on.
The callout parts (Extension, ExtensionChain, TargetRef) are shared with GCPTrafficExtension.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from components.crds.api_versions import GCP_ROUTING_EXTENSION, ApiKind
from components.crds.base import CrdModel

ExtensionEvent = Literal[
    "RequestHeaders", "RequestBody", "RequestTrailers", "ResponseHeaders", "ResponseBody", "ResponseTrailers"
]


class ServiceBackendRef(CrdModel):
    group: Literal[""] = ""
    kind: Literal["Service"] = "Service"
    name: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)


class Extension(CrdModel):
    """One callout: a Service in the cluster (`backendRef`) or a Google API (`googleAPIServiceName`)."""

    name: str = Field(min_length=1, max_length=63)
    authority: str | None = None
    timeout: str | None = Field(default=None, pattern=r"^[0-9]+(ms|s)$")
    fail_open: bool | None = None
    supported_events: list[ExtensionEvent] | None = None
    request_body_send_mode: Literal["Streamed", "FullDuplexStreamed"] | None = None
    backend_ref: ServiceBackendRef | None = None
    google_api_service_name: str | None = Field(default=None, alias="googleAPIServiceName")
    metadata: dict[str, str] | None = Field(default=None, max_length=16)

    @model_validator(mode="after")
    def _one_target(self) -> Extension:
        if (self.backend_ref is None) == (self.google_api_service_name is None):
            raise ValueError("set exactly one of backendRef and googleAPIServiceName")
        if self.google_api_service_name is not None and self.authority is not None:
            raise ValueError("authority applies to backendRef callouts only, not googleAPIServiceName")
        for key, value in (self.metadata or {}).items():
            if not 1 <= len(value) <= 1023:
                raise ValueError(f"metadata[{key!r}] is {len(value)} characters; GKE allows 1..1023")
        return self


class ExtensionChain(CrdModel):
    name: str = Field(min_length=1, max_length=63)
    extensions: list[Extension] = Field(min_length=1)


class TargetRef(CrdModel):
    group: str
    kind: str
    name: str = Field(min_length=1, max_length=253)


class GCPRoutingExtensionSpec(CrdModel):
    API: ClassVar[ApiKind] = GCP_ROUTING_EXTENSION

    target_refs: list[TargetRef] = Field(min_length=1)
    extension_chains: list[ExtensionChain] = Field(min_length=1)
