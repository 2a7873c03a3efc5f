"""HTTPRoute (gateway.networking.k8s.io/v1): matches on path and model-name header, weighted backends."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from components.crds.api_versions import HTTP_ROUTE, ApiKind
from components.crds.base import CrdModel


class ParentReference(CrdModel):
    group: str | None = None
    kind: str | None = None
    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = None
    section_name: str | None = None


class PathMatch(CrdModel):
    type: Literal["Exact", "PathPrefix", "RegularExpression"] = "PathPrefix"
    value: str = Field(default="/", max_length=1024)


class HeaderMatch(CrdModel):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    name: str = Field(min_length=1, max_length=256)
    value: str = Field(min_length=1, max_length=4096)


class RouteMatch(CrdModel):
    path: PathMatch | None = None
    headers: list[HeaderMatch] | None = Field(default=None, max_length=16)


class BackendObjectReference(CrdModel):
    """A backend: an InferencePool (single cluster) or a GCPInferencePoolImport (multi-cluster)."""

    group: str | None = None
    kind: str | None = None
    name: str = Field(min_length=1, max_length=253)
    port: int | None = Field(default=None, ge=1, le=65535)


class BackendRef(BackendObjectReference):
    # Relative share of the rule's traffic (a canary at 10 next to 90); unset means 1.
    weight: int | None = Field(default=None, ge=0, le=1_000_000)


class RequestMirror(CrdModel):
    backend_ref: BackendObjectReference
    percent: int | None = Field(default=None, ge=0, le=100)


class RouteFilter(CrdModel):
    type: Literal["RequestMirror"] = "RequestMirror"
    request_mirror: RequestMirror


class RouteTimeouts(CrdModel):
    """Gateway API durations (`600s`); the LB's backend timeout comes from GCPBackendPolicy."""

    request: str | None = None
    backend_request: str | None = None


class RouteRule(CrdModel):
    matches: list[RouteMatch] | None = Field(default=None, max_length=64)
    filters: list[RouteFilter] | None = Field(default=None, max_length=16)
    backend_refs: list[BackendRef] = Field(min_length=1, max_length=16)
    timeouts: RouteTimeouts | None = None


class HTTPRouteSpec(CrdModel):
    API: ClassVar[ApiKind] = HTTP_ROUTE

    parent_refs: list[ParentReference] = Field(min_length=1, max_length=32)
    hostnames: list[str] | None = None
    rules: list[RouteRule] = Field(min_length=1, max_length=16)
