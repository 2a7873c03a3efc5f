"""Engine type tokens the rules match on, in one place. Custom resources are
``kubernetes:<group>/<version>:<Kind>``; their versions move between releases, so custom kinds are
matched on (group, kind) through :func:`kubernetes_kind`.
"""

from __future__ import annotations

from typing import NamedTuple

# GCP (pulumi-gcp 10.x)
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
NETWORK = "gcp:compute/network:Network"
FLEET_MEMBERSHIP = "gcp:gkehub/membership:Membership"
FLEET_FEATURE = "gcp:gkehub/feature:Feature"
PROJECT_IAM_MEMBER = "gcp:projects/iAMMember:IAMMember"
PROJECT_IAM_BINDING = "gcp:projects/iAMBinding:IAMBinding"
SERVICE_ACCOUNT = "gcp:serviceaccount/account:Account"

# Kubernetes core/typed resources (pulumi-kubernetes 4.x)
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
REPLICA_SET = "kubernetes:apps/v1:ReplicaSet"
JOB = "kubernetes:batch/v1:Job"
CRON_JOB = "kubernetes:batch/v1:CronJob"
POD = "kubernetes:core/v1:Pod"
SERVICE = "kubernetes:core/v1:Service"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
HELM_CHART_V4 = "kubernetes:helm.sh/v4:Chart"

# Custom resources, by API group (token shape: kubernetes:<group>/<version>:<Kind>)
INFERENCE_GROUP = "inference.networking.k8s.io"
INFERENCE_X_GROUP = "inference.networking.x-k8s.io"
GKE_NETWORKING_GROUP = "networking.gke.io"
GATEWAY_GROUP = "gateway.networking.k8s.io"
LEADER_WORKER_SET_GROUP = "leaderworkerset.x-k8s.io"

INFERENCE_POOL = f"kubernetes:{INFERENCE_GROUP}/v1:InferencePool"
INFERENCE_OBJECTIVE = f"kubernetes:{INFERENCE_X_GROUP}/v1alpha2:InferenceObjective"
GCP_BACKEND_POLICY = f"kubernetes:{GKE_NETWORKING_GROUP}/v1:GCPBackendPolicy"
HEALTH_CHECK_POLICY = f"kubernetes:{GKE_NETWORKING_GROUP}/v1:HealthCheckPolicy"
GATEWAY = f"kubernetes:{GATEWAY_GROUP}/v1:Gateway"
HTTP_ROUTE = f"kubernetes:{GATEWAY_GROUP}/v1:HTTPRoute"


class KubernetesKind(NamedTuple):
    """A Kubernetes (group, version, kind) parsed from an engine type token."""

    group: str
    version: str
    kind: str


def kubernetes_kind(resource_type: str) -> KubernetesKind | None:
    """Parses ``kubernetes:<group>/<version>:<Kind>`` (core group: ``core/v1``); None for other tokens."""
    package, _, rest = resource_type.partition(":")
    if package != "kubernetes" or not rest:
        return None
    api_version, _, kind = rest.partition(":")
    group, _, version = api_version.rpartition("/")
    if not kind or not version:
        return None
    return KubernetesKind(group=group, version=version, kind=kind)


def is_kind(resource_type: str, kind: str, *groups: str) -> bool:
    """True when the token is a Kubernetes ``kind`` in one of ``groups`` (any group if none given), any version."""
    parsed = kubernetes_kind(resource_type)
    if parsed is None or parsed.kind != kind:
        return False
    return not groups or parsed.group in groups


def is_inference_pool(resource_type: str) -> bool:
    return is_kind(resource_type, "InferencePool", INFERENCE_GROUP, INFERENCE_X_GROUP)


def is_inference_pool_patch(resource_type: str) -> bool:
    """``CustomResourcePatch`` registers as ``<Kind>Patch``; used to add the export annotation to a pool."""
    return is_kind(resource_type, "InferencePoolPatch", INFERENCE_GROUP, INFERENCE_X_GROUP)


def is_inference_objective(resource_type: str) -> bool:
    # InferenceObjective moved from GIE to llm-d-router: accept the kind under any group.
    return is_kind(resource_type, "InferenceObjective")


def is_backend_policy(resource_type: str) -> bool:
    return is_kind(resource_type, "GCPBackendPolicy", GKE_NETWORKING_GROUP)


def is_health_check_policy(resource_type: str) -> bool:
    return is_kind(resource_type, "HealthCheckPolicy", GKE_NETWORKING_GROUP)


def is_gateway(resource_type: str) -> bool:
    return is_kind(resource_type, "Gateway", GATEWAY_GROUP)


def is_http_route(resource_type: str) -> bool:
    return is_kind(resource_type, "HTTPRoute", GATEWAY_GROUP)


def is_leader_worker_set(resource_type: str) -> bool:
    return is_kind(resource_type, "LeaderWorkerSet", LEADER_WORKER_SET_GROUP)


# Workload kinds whose pod template the workload rules inspect.
POD_TEMPLATE_WORKLOADS = frozenset({DEPLOYMENT, STATEFUL_SET, DAEMON_SET, REPLICA_SET, JOB, CRON_JOB, POD})


def is_workload(resource_type: str) -> bool:
    return resource_type in POD_TEMPLATE_WORKLOADS or is_leader_worker_set(resource_type)
