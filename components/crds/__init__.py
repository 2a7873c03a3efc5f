"""Pydantic models of every custom-resource spec the project emits, and their API versions.

Components build specs through these models so a wrong field fails in Python, before any apply.
"""

from __future__ import annotations

from components.crds.api_versions import ApiKind
from components.crds.autoscaling_metric import AutoscalingMetricSpec, ExportedMetric, MetricsEndpoint
from components.crds.backend_policy import (
    BackendLogging,
    BackendPolicyConfig,
    CustomMetric,
    GCPBackendPolicySpec,
)
from components.crds.base import CrdModel, LabelSelector, PortNumber
from components.crds.gateway import GatewayAddress, GatewaySpec, Listener
from components.crds.health_check_policy import (
    GrpcHealthCheck,
    HealthCheck,
    HealthCheckPolicyConfig,
    HealthCheckPolicySpec,
    HttpHealthCheck,
)
from components.crds.http_route import (
    BackendObjectReference,
    BackendRef,
    HeaderMatch,
    HTTPRouteSpec,
    ParentReference,
    PathMatch,
    RequestMirror,
    RouteFilter,
    RouteMatch,
    RouteRule,
    RouteTimeouts,
)
from components.crds.inference_objective import InferenceObjectiveSpec, PoolObjectReference
from components.crds.inference_pool import EndpointPickerRef, InferencePoolSpec
from components.crds.pod_monitoring import PodMonitoringSpec, ScrapeAuthorization, ScrapeEndpoint
from components.crds.policy_target import PolicyTargetReference
from components.crds.pool_import import inference_pool_backend, pool_import_backend
from components.crds.routing_extension import (
    Extension,
    ExtensionChain,
    GCPRoutingExtensionSpec,
    ServiceBackendRef,
    TargetRef,
)
from components.crds.traffic_extension import GCPTrafficExtensionSpec

__all__ = [
    "ApiKind",
    "AutoscalingMetricSpec",
    "BackendLogging",
    "BackendObjectReference",
    "BackendPolicyConfig",
    "BackendRef",
    "CrdModel",
    "CustomMetric",
    "EndpointPickerRef",
    "ExportedMetric",
    "Extension",
    "ExtensionChain",
    "GCPBackendPolicySpec",
    "GCPRoutingExtensionSpec",
    "GCPTrafficExtensionSpec",
    "GatewayAddress",
    "GatewaySpec",
    "GrpcHealthCheck",
    "HTTPRouteSpec",
    "HeaderMatch",
    "HealthCheck",
    "HealthCheckPolicyConfig",
    "HealthCheckPolicySpec",
    "HttpHealthCheck",
    "InferenceObjectiveSpec",
    "InferencePoolSpec",
    "LabelSelector",
    "Listener",
    "MetricsEndpoint",
    "ParentReference",
    "PathMatch",
    "PodMonitoringSpec",
    "PolicyTargetReference",
    "PoolObjectReference",
    "PortNumber",
    "RequestMirror",
    "RouteFilter",
    "RouteMatch",
    "RouteRule",
    "RouteTimeouts",
    "ScrapeAuthorization",
    "ScrapeEndpoint",
    "ServiceBackendRef",
    "TargetRef",
    "inference_pool_backend",
    "pool_import_backend",
]
