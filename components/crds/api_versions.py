"""API group/version/kind of every Kubernetes object the project emits, in one place.

InferenceObjective moved groups once already (GIE -> llm-d); when an API moves, only this file changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ApiKind:
    """One Kubernetes kind at one served version; `group == ""` is the core API."""

    group: str
    version: str
    kind: str

    @property
    def api_version(self) -> str:
        """The `apiVersion` field value: `group/version`, or just `version` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def pulumi_type(self) -> str:
        """The engine type token pulumi-kubernetes registers (`kubernetes:<group>/<version>:<Kind>`)."""
        return f"kubernetes:{self.group or 'core'}/{self.version}:{self.kind}"


# Gateway API Inference Extension release whose CRDs and API versions the project targets (Google's multi-cluster Inference Gateway guide).
INFERENCE_EXTENSION_RELEASE = "v1.1.0"
# The InferenceObjective CRD is not installed by GKE (it manages InferencePool); shipped at this release.
INFERENCE_OBJECTIVE_CRD_FILE = (
    Path(__file__).parent / "manifests" / "inference.networking.x-k8s.io_inferenceobjectives.yaml"
)

INFERENCE_POOL = ApiKind("inference.networking.k8s.io", "v1", "InferencePool")
INFERENCE_OBJECTIVE = ApiKind("inference.networking.x-k8s.io", "v1alpha2", "InferenceObjective")
# Not a served API: the picker reads this kind from a file (EPP's config format).

GATEWAY = ApiKind("gateway.networking.k8s.io", "v1", "Gateway")
HTTP_ROUTE = ApiKind("gateway.networking.k8s.io", "v1", "HTTPRoute")

HEALTH_CHECK_POLICY = ApiKind("networking.gke.io", "v1", "HealthCheckPolicy")
GCP_BACKEND_POLICY = ApiKind("networking.gke.io", "v1", "GCPBackendPolicy")
# Created by GKE in the config cluster for every exported InferencePool; referenced, never authored.
GCP_INFERENCE_POOL_IMPORT = ApiKind("networking.gke.io", "v1", "GCPInferencePoolImport")
GCP_ROUTING_EXTENSION = ApiKind("networking.gke.io", "v1", "GCPRoutingExtension")
GCP_TRAFFIC_EXTENSION = ApiKind("networking.gke.io", "v1", "GCPTrafficExtension")

AUTOSCALING_METRIC = ApiKind("autoscaling.gke.io", "v1beta1", "AutoscalingMetric")
POD_MONITORING = ApiKind("monitoring.googleapis.com", "v1", "PodMonitoring")

# Annotation that asks GKE to export an InferencePool to the fleet's config cluster (value is the
# string "True", capital T, exactly as GKE documents it).
GKE_EXPORT_ANNOTATION = "networking.gke.io/export"
GKE_EXPORT_VALUE = "True"
