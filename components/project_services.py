"""ProjectServices: the Google APIs a GKE Inference Gateway project needs, enabled once per stack.

Services stay enabled on destroy (`disable_on_destroy=False`): other workloads in the project may use them,
and disabling container.googleapis.com would take every cluster in the project down with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

# Google's multi-cluster Inference Gateway guide's list (compute, container, networkservices, modelarmor, autoscaling) plus what the fleet and
# multi-cluster gateway need (gkehub, multiclusteringress, multiclusterservicediscovery, trafficdirector),
# monitoring and logging for managed Prometheus and the nodes, and what the program itself calls:
# IAM (node service accounts), Resource Manager (project IAM grants), Artifact Registry (the picker image).
INFERENCE_GATEWAY_SERVICES: tuple[str, ...] = (
    "container.googleapis.com",
    "compute.googleapis.com",
    "networkservices.googleapis.com",
    "modelarmor.googleapis.com",
    "autoscaling.googleapis.com",
    "gkehub.googleapis.com",
    "multiclusteringress.googleapis.com",
    "multiclusterservicediscovery.googleapis.com",
    "trafficdirector.googleapis.com",
    "monitoring.googleapis.com",
    "logging.googleapis.com",
    "iam.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "artifactregistry.googleapis.com",
)


@dataclass(frozen=True, kw_only=True)
class ProjectServicesArgs:
    project: str
    services: Sequence[str] = INFERENCE_GATEWAY_SERVICES

    def __post_init__(self) -> None:
        if len(set(self.services)) != len(self.services):
            raise ValueError(f"ProjectServicesArgs.services lists a service twice: {sorted(self.services)}")


class ProjectServices(pulumi.ComponentResource):
    """One `gcp.projects.Service` per API; depend on this component to wait for all of them."""

    def __init__(
        self, name: str, args: ProjectServicesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("infgw:index:ProjectServices", name, None, opts)
        self.services = {
            service: gcp.projects.Service(
                f"{name}-{service.split('.')[0]}",
                project=args.project,
                service=service,
                disable_on_destroy=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for service in args.services
        }
        self.register_outputs({"services": list(self.services)})
