"""CRD spec models: API versions, constraints, and agreement with the upstream CRD schemas."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from components.crds import (
    BackendPolicyConfig,
    CustomMetric,
    EndpointPickerRef,
    GatewayAddress,
    GatewaySpec,
    GCPBackendPolicySpec,
    HealthCheck,
    HealthCheckPolicyConfig,
    HealthCheckPolicySpec,
    HttpHealthCheck,
    HTTPRouteSpec,
    InferenceObjectiveSpec,
    InferencePoolSpec,
    LabelSelector,
    Listener,
    ParentReference,
    PolicyTargetReference,
    PoolObjectReference,
    PortNumber,
    RouteRule,
    pool_import_backend,
)
from components.crds.api_versions import (
    GCP_BACKEND_POLICY,
    INFERENCE_OBJECTIVE,
    INFERENCE_POOL,
    ApiKind,
)
from components.crds.base import CrdModel
from tests.components.crd_schema_check import CRD_DIR, load_crd_schemas, validate_custom_resource


def pool_spec(**overrides: Any) -> InferencePoolSpec:
    fields: dict[str, Any] = {
        "selector": LabelSelector(match_labels={"app": "vllm"}),
        "target_ports": [PortNumber(number=8000)],
        "endpoint_picker_ref": EndpointPickerRef(name="vllm-epp", port=PortNumber(number=9002)),
    }
    fields.update(overrides)
    return InferencePoolSpec(**fields)


def as_object(spec: CrdModel, name: str = "example") -> dict[str, Any]:
    api: ApiKind = spec.API  # type: ignore[attr-defined]
    return {
        "apiVersion": api.api_version,
        "kind": api.kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec.to_wire(),
    }


def test_api_versions_and_type_tokens() -> None:
    assert INFERENCE_POOL.api_version == "inference.networking.k8s.io/v1"
    assert INFERENCE_OBJECTIVE.api_version == "inference.networking.x-k8s.io/v1alpha2"
    assert GCP_BACKEND_POLICY.pulumi_type == "kubernetes:networking.gke.io/v1:GCPBackendPolicy"
    assert ApiKind("", "v1", "Secret").api_version == "v1"
    assert ApiKind("", "v1", "Secret").pulumi_type == "kubernetes:core/v1:Secret"


def test_wire_format_is_camel_case_without_unset_fields() -> None:
    wire = pool_spec().to_wire()
    assert wire == {
        "selector": {"matchLabels": {"app": "vllm"}},
        "targetPorts": [{"number": 8000}],
        "endpointPickerRef": {"name": "vllm-epp", "port": {"number": 9002}},
    }


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: pool_spec(target_ports=[PortNumber(number=8000)] * 2), "must be unique"),
        (lambda: pool_spec(target_ports=[PortNumber(number=8000 + i) for i in range(9)]), "at most 8"),
        (lambda: pool_spec(target_ports=[]), "at least 1"),
        (lambda: PortNumber(number=0), "greater than or equal to 1"),
        (lambda: LabelSelector(match_labels={}), "at least 1"),
        (
            lambda: EndpointPickerRef(name="epp", port=PortNumber(number=9002), failure_mode="Open"),
            "FailOpen",
        ),
        (lambda: CustomMetric(name="gke.named_metrics.kv-cache", max_utilization_percent=0), "greater than"),
        (lambda: CustomMetric(name="kv-cache"), "pattern"),
        (
            lambda: BackendPolicyConfig(
                balancing_mode="CUSTOM_METRICS",
                custom_metrics=[CustomMetric(name="gke.named_metrics.kv-cache")],
                max_in_flight_requests_per_endpoint=5,
            ),
            "belongs to IN_FLIGHT",
        ),
        (lambda: BackendPolicyConfig(balancing_mode="IN_FLIGHT"), "needs maxInFlightRequestsPerEndpoint"),
        (lambda: BackendPolicyConfig(max_in_flight_requests_per_endpoint=5), "need a balancingMode"),
        (
            lambda: HealthCheckPolicyConfig(
                check_interval_sec=2, timeout_sec=5, config=HealthCheck(http_health_check=HttpHealthCheck())
            ),
            "must be <= checkIntervalSec",
        ),
        (lambda: PoolObjectReference(name="p", colour="red"), "Extra inputs are not permitted"),
    ],
    ids=[
        "duplicate-target-port",
        "nine-target-ports",
        "no-target-port",
        "port-zero",
        "empty-selector",
        "bad-failure-mode",
        "utilization-zero",
        "metric-without-gke-prefix",
        "custom-metrics-with-in-flight-field",
        "in-flight-without-capacity",
        "capacity-without-mode",
        "health-timeout-over-interval",
        "unknown-field",
    ],
)
def test_models_reject_what_the_api_rejects(build: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build()


def sample_specs() -> list[CrdModel]:
    """One of each spec the project authors that has an upstream CRD to check against."""
    import_target = PolicyTargetReference.pool_import("vllm")
    return [
        pool_spec(),
        pool_spec(
            endpoint_picker_ref=EndpointPickerRef(
                name="e", port=PortNumber(number=9002), failure_mode="FailOpen"
            )
        ),
        InferenceObjectiveSpec(priority=10, pool_ref=PoolObjectReference(name="vllm")),
        GatewaySpec(
            gateway_class_name="gke-l7-cross-regional-internal-managed-mc",
            addresses=[GatewayAddress.ephemeral_in_region("europe-west3")],
            listeners=[Listener(name="http", protocol="HTTP", port=80)],
        ),
        HTTPRouteSpec(
            parent_refs=[ParentReference(name="gw")],
            rules=[
                RouteRule(
                    backend_refs=[pool_import_backend("vllm", weight=90), pool_import_backend("c", weight=10)]
                )
            ],
        ),
        HealthCheckPolicySpec(
            target_ref=import_target,
            default=HealthCheckPolicyConfig(
                config=HealthCheck(
                    http_health_check=HttpHealthCheck(
                        port_specification="USE_FIXED_PORT", port=8000, request_path="/health"
                    )
                )
            ),
        ),
        GCPBackendPolicySpec(target_ref=import_target, default=BackendPolicyConfig(timeout_sec=600)),
    ]


@pytest.fixture(scope="module")
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    if not CRD_DIR.is_dir():
        pytest.skip(f"upstream CRD schemas not found at {CRD_DIR}")
    return load_crd_schemas()


@pytest.mark.parametrize("spec", sample_specs(), ids=lambda spec: type(spec).__name__)
def test_model_output_passes_the_upstream_crd_schema(spec: CrdModel, crd_schemas: Any) -> None:
    validate_custom_resource(as_object(spec), crd_schemas)


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda obj: obj["spec"].pop("endpointPickerRef"), "'endpointPickerRef' is a required property"),
        (lambda obj: obj["spec"]["endpointPickerRef"].update(failureMode="Sometimes"), "is not one of"),
        (lambda obj: obj["spec"]["targetPorts"][0].update(number=70000), "is greater than the maximum"),
    ],
    ids=["missing-picker-ref", "bad-enum", "port-out-of-range"],
)
def test_schema_check_rejects_broken_objects(mutate: Any, why: str, crd_schemas: Any) -> None:
    # Guards the guard: the schema test above would pass vacuously if the validator accepted anything.
    obj = as_object(
        pool_spec(
            endpoint_picker_ref=EndpointPickerRef(
                name="e", port=PortNumber(number=9002), failure_mode="FailOpen"
            )
        )
    )
    mutate(obj)
    with pytest.raises(jsonschema.ValidationError, match=why):
        validate_custom_resource(obj, crd_schemas)
