"""Realistic planned resources for policy tests: the multi-cluster (two regions) and single-cluster
stacks, as the engine hands them to an analyzer (camelCase inputs, numbers as floats).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from policies import resource_types as types
from policies.offline import PlannedResource

PROJECT = "my-proj"
POOL = "vllm-llama3-8b-instruct"
VLLM_IMAGE = "vllm/vllm-openai:v0.13.0"
PICKER_IMAGE = "us-docker.pkg.dev/my-proj/infgw/picker:0.1.0"


def urn(resource_type: str, name: str) -> str:
    return f"urn:pulumi:test::infgw::{resource_type}::{name}"


def provider_urn(cluster: str) -> str:
    return urn("pulumi:providers:kubernetes", f"{cluster}-k8s")


def gcp_resources(name: str, region: str, zone: str, proxy_cidr: str, purpose: str) -> list[PlannedResource]:
    email = f"{name}-nodes@{PROJECT}.iam.gserviceaccount.com"
    cluster = {
        "project": PROJECT, "name": name, "location": region, "network": "default",
        "removeDefaultNodePool": True, "initialNodeCount": 1.0,
        "minMasterVersion": "1.34.1-gke.1127000",
        "releaseChannel": {"channel": "RAPID"},
        "gatewayApiConfig": {"channel": "CHANNEL_STANDARD"},
        "addonsConfig": {"httpLoadBalancing": {"disabled": False}},
        "monitoringConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "DCGM"],
                             "managedPrometheus": {"enabled": True}},
        "podAutoscaling": {"hpaProfile": "PERFORMANCE"},
        "deletionProtection": False,
    }
    gpu_pool = {
        "project": PROJECT, "name": "gpu", "cluster": name, "location": region, "nodeLocations": [zone],
        "nodeCount": 1.0,
        "nodeConfig": {
            "machineType": "a3-highgpu-2g", "spot": True, "serviceAccount": email,
            "guestAccelerators": [{"type": "nvidia-h100-80gb", "count": 2.0,
                                   "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"}}],
        },
    }
    system_pool = {
        "project": PROJECT, "name": "system", "cluster": name, "location": region, "nodeLocations": [zone],
        "nodeCount": 1.0, "nodeConfig": {"machineType": "e2-standard-8", "serviceAccount": email},
    }
    return [
        PlannedResource(types.SERVICE_ACCOUNT, f"{name}-nodes", {"accountId": f"{name}-nodes"}),
        PlannedResource(types.PROJECT_IAM_MEMBER, f"{name}-nodes-autoscaling-metricsWriter",
                        {"project": PROJECT, "role": "roles/autoscaling.metricsWriter",
                         "member": f"serviceAccount:{email}"}),
        PlannedResource(types.SUBNETWORK, f"{name}-proxy-only",
                        {"name": f"{region}-proxy-only", "region": region, "network": "default",
                         "ipCidrRange": proxy_cidr, "purpose": purpose, "role": "ACTIVE"}),
        PlannedResource(types.CLUSTER, f"{name}-cluster", cluster),
        PlannedResource(types.NODE_POOL, f"{name}-system", system_pool),
        PlannedResource(types.NODE_POOL, f"{name}-gpu", gpu_pool),
    ]


def _k8s(resource_type: str, name: str, cluster: str, inputs: dict[str, Any]) -> PlannedResource:
    return PlannedResource(resource_type, f"{cluster}-{name}", inputs, urn=urn(resource_type, f"{cluster}-{name}"),
                           provider_urn=provider_urn(cluster))


def model_server(cluster: str, *, export: bool) -> list[PlannedResource]:
    labels = {"app": POOL}
    probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 1.0}
    vllm = {
        "metadata": {"name": POOL, "namespace": "default"},
        "spec": {
            "replicas": 1.0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 130.0,
                    "containers": [{
                        "name": "vllm", "image": VLLM_IMAGE,
                        # Priority objectives below: the engine schedules by priority too.
                        "args": ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--port", "8000",
                                 "--scheduling-policy", "priority"],
                        "ports": [{"name": "http", "containerPort": 8000.0}],
                        "env": [{"name": "HUGGING_FACE_HUB_TOKEN",
                                 "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}}],
                        "resources": {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}},
                        "lifecycle": {"preStop": {"sleep": {"seconds": 30.0}}},
                        "livenessProbe": probe, "readinessProbe": probe,
                        "startupProbe": {**probe, "failureThreshold": 600.0},
                    }],
                },
            },
        },
    }
    pool_metadata: dict[str, Any] = {"name": POOL, "namespace": "default"}
    if export:
        pool_metadata["annotations"] = {"networking.gke.io/export": "True"}
    pool = {
        "apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool", "metadata": pool_metadata,
        "spec": {"selector": {"matchLabels": labels}, "targetPorts": [{"number": 8000.0}],
                 "endpointPickerRef": {"name": f"{POOL}-epp", "port": {"number": 9002.0}, "failureMode": "FailOpen"}},
    }
    picker_labels = {"app": f"{POOL}-epp"}
    picker = {
        "metadata": {"name": f"{POOL}-epp", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": picker_labels},
            "template": {
                "metadata": {"labels": picker_labels},
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 65532.0},
                    "containers": [{
                        "name": "picker", "image": PICKER_IMAGE,
                        "ports": [{"name": "grpc", "containerPort": 9002.0}],
                        "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"]}},
                    }],
                },
            },
        },
    }
    picker_service = {"metadata": {"name": f"{POOL}-epp", "namespace": "default"},
                      "spec": {"selector": picker_labels, "ports": [{"port": 9002.0}]}}
    objectives = [
        {"apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferenceObjective",
         "metadata": {"name": name, "namespace": "default"},
         "spec": {"priority": priority, "poolRef": {"name": POOL}}}
        for name, priority in (("food-review", 1.0), ("base-model", 2.0))
    ]
    return [
        _k8s(types.SECRET, "hf-token", cluster, {"metadata": {"name": "hf-token"}, "stringData": {"token": "x"}}),
        _k8s(types.DEPLOYMENT, POOL, cluster, vllm),
        _k8s(types.INFERENCE_POOL, f"{POOL}-pool", cluster, pool),
        _k8s(types.DEPLOYMENT, f"{POOL}-epp", cluster, picker),
        _k8s(types.SERVICE, f"{POOL}-epp-svc", cluster, picker_service),
        *[_k8s(types.INFERENCE_OBJECTIVE, o["metadata"]["name"], cluster, o) for o in objectives],
    ]


def gateway(cluster: str, gateway_class: str, regions: Iterable[str], backend_kind: str,
            backend_group: str) -> list[PlannedResource]:
    target = {"group": backend_group, "kind": backend_kind, "name": POOL}
    return [
        _k8s(types.GATEWAY, "gateway", cluster, {
            "metadata": {"name": "inference-gateway"},
            "spec": {"gatewayClassName": gateway_class,
                     "addresses": [{"type": f"networking.gke.io/ephemeral-ipv4-address/{r}", "value": r}
                                   for r in regions],
                     "listeners": [{"name": "http", "protocol": "HTTP", "port": 80.0}]}}),
        _k8s(types.HTTP_ROUTE, "route", cluster, {
            "metadata": {"name": "inference-route"},
            "spec": {"parentRefs": [{"name": "inference-gateway"}], "rules": [{"backendRefs": [target]}]}}),
        _k8s(types.GCP_BACKEND_POLICY, "backend-policy", cluster, {
            "metadata": {"name": "backend-policy"},
            "spec": {"targetRef": target, "default": {
                "timeoutSec": 600.0, "balancingMode": "CUSTOM_METRICS", "trafficDuration": "LONG",
                "customMetrics": [{"name": "gke.named_metrics.kv-cache", "dryRun": False,
                                   "maxUtilizationPercent": 60.0}]}}}),
        _k8s(types.HEALTH_CHECK_POLICY, "health-check", cluster, {
            "metadata": {"name": "health-check"},
            "spec": {"targetRef": target, "default": {
                "checkIntervalSec": 2.0, "timeoutSec": 2.0,
                "config": {"type": "HTTP", "httpHealthCheck": {"requestPath": "/health", "port": 8000.0}}}}}),
    ]


def multi_cluster_stack() -> list[PlannedResource]:
    """Google's multi-cluster Inference Gateway guide: gke-west (europe-west3) is the config cluster, gke-east (us-east4) the second target."""
    resources = [
        *gcp_resources("gke-west", "europe-west3", "europe-west3-c", "10.0.0.0/23", "GLOBAL_MANAGED_PROXY"),
        *gcp_resources("gke-east", "us-east4", "us-east4-a", "10.5.0.0/23", "GLOBAL_MANAGED_PROXY"),
        PlannedResource(types.FLEET_MEMBERSHIP, "gke-west-membership",
                        {"membershipId": "gke-west", "location": "global"}),
        PlannedResource(types.FLEET_MEMBERSHIP, "gke-east-membership",
                        {"membershipId": "gke-east", "location": "global"}),
        PlannedResource(types.FLEET_FEATURE, "mci", {
            "name": "multiclusteringress", "location": "global",
            "spec": {"multiclusteringress": {
                "configMembership": f"projects/{PROJECT}/locations/global/memberships/gke-west"}}}),
        *model_server("gke-west", export=True),
        *model_server("gke-east", export=True),
        *gateway("gke-west", "gke-l7-cross-regional-internal-managed-mc", ["europe-west3", "us-east4"],
                 "GCPInferencePoolImport", "networking.gke.io"),
    ]
    return resources


def single_cluster_stack() -> list[PlannedResource]:
    """Google's single-cluster Inference Gateway tutorial: one regional cluster behind gke-l7-regional-external-managed."""
    return [
        *gcp_resources("gke-single", "us-central1", "us-central1-a", "10.129.0.0/23", "REGIONAL_MANAGED_PROXY"),
        *model_server("gke-single", export=False),
        *gateway("gke-single", "gke-l7-regional-external-managed", [], "InferencePool",
                 "inference.networking.k8s.io"),
    ]


def mutate(resources: list[PlannedResource], name: str,
           change: Callable[[dict[str, Any]], None]) -> list[PlannedResource]:
    """A copy of ``resources`` with ``change`` applied to the inputs of the resource named ``name``."""
    result = []
    found = False
    for resource in resources:
        if resource.name == name:
            inputs = copy.deepcopy(dict(resource.inputs))
            change(inputs)
            resource = PlannedResource(resource.resource_type, resource.name, inputs, resource.urn,
                                       resource.parent_urn, resource.provider_urn)
            found = True
        result.append(resource)
    if not found:
        raise KeyError(f"no planned resource named {name}")
    return result


def inputs_of(resources: list[PlannedResource], name: str) -> dict[str, Any]:
    """A deep copy of the inputs of the resource named ``name``."""
    for resource in resources:
        if resource.name == name:
            return copy.deepcopy(dict(resource.inputs))
    raise KeyError(f"no planned resource named {name}")


def without(resources: list[PlannedResource], *names: str) -> list[PlannedResource]:
    missing = set(names) - {r.name for r in resources}
    if missing:
        raise KeyError(f"no planned resources named {sorted(missing)}")
    return [r for r in resources if r.name not in names]
