"""ProjectServices: every API the gateway needs, left enabled on destroy."""

from __future__ import annotations

from pathlib import Path

import pytest

from infgw.plan.inventory import InventoryCheck
from infgw.plan.recorder import PlanRecorder

INVENTORIES = Path(__file__).parent / "inventories" / "project_services"


def test_project_services_inventory(pulumi_mocks: PlanRecorder, golden_inventory: InventoryCheck) -> None:
    from components.project_services import ProjectServices, ProjectServicesArgs

    resources = pulumi_mocks.record(
        lambda: ProjectServices("services", ProjectServicesArgs(project="my-inference-project"))
    )
    golden_inventory(resources, INVENTORIES / "default.yaml")
    services = [r for r in resources if r.type == "gcp:projects/service:Service"]
    assert {r.get("service") for r in services} >= {
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
    }
    assert all(
        r.get("disableOnDestroy") is False and r.get("project") == "my-inference-project" for r in services
    )


def test_duplicate_service_is_refused() -> None:
    from components.project_services import ProjectServicesArgs

    with pytest.raises(ValueError, match="lists a service twice"):
        ProjectServicesArgs(project="p-123456", services=("compute.googleapis.com", "compute.googleapis.com"))
