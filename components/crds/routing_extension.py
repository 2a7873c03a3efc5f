"""GCPRoutingExtension (networking.gke.io/v1): an ext_proc callout the GKE load balancer runs before routing.

Used for the body-based router, which copies the request body's `model` into a header routes match on.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from components.crds.api_versions import GCP_ROUTING_EXTENSION, ApiKind
from components.crds.base import CrdModel

ExtensionEvent = Literal[
    "RequestHeaders", "RequestBody", "RequestTrailers", "ResponseHeaders", "ResponseBody"
]


class ServiceBackendRef(CrdModel):
    group: Literal[""] = ""
    kind: Literal["Service"] = "Service"
    name: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)


class Extension(CrdModel):
    name: str = Field(min_length=1, max_length=63)
    authority: str | None = None
    timeout: str | None = Field(default=None, pattern=r"^[0-9]+(ms|s)$")
    fail_open: bool | None = None
    supported_events: list[ExtensionEvent] | None = None
    request_body_send_mode: Literal["Streamed", "FullDuplexStreamed"] | None = None
    backend_ref: ServiceBackendRef


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
