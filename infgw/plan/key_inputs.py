"""Which inputs summarise a resource in the printed plan and in golden inventories, per type token.

Other areas add their types here (one entry each). A type without an entry shows its name-like inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from infgw.plan.model import PlannedResource

Extractor = Callable[[PlannedResource], Any]


def _path(path: str) -> Extractor:
    return lambda resource: resource.get(path)


def _count(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _accelerators(resource: PlannedResource) -> Any:
    accelerators = resource.get("nodeConfig.guestAccelerators") or []
    return [
        f"{_count(item.get('count'))} x {item.get('type')} (driver {item.get('gpuDriverInstallationConfig', {}).get('gpuDriverVersion', 'unset')})"
        for item in accelerators
        if isinstance(item, dict)
    ] or None


_CLUSTER: Mapping[str, Extractor] = MappingProxyType(
    {
        "name": _path("name"),
        "location": _path("location"),
        "minMasterVersion": _path("minMasterVersion"),
        "releaseChannel": _path("releaseChannel.channel"),
        "gatewayApi": _path("gatewayApiConfig.channel"),
        "monitoring": _path("monitoringConfig.enableComponents"),
        "managedPrometheus": _path("monitoringConfig.managedPrometheus.enabled"),
        "hpaProfile": _path("podAutoscaling.hpaProfile"),
        "workloadPool": _path("workloadIdentityConfig.workloadPool"),
        "networkingMode": _path("networkingMode"),
        "removeDefaultNodePool": _path("removeDefaultNodePool"),
        "deletionProtection": _path("deletionProtection"),
    }
)
_NODE_POOL: Mapping[str, Extractor] = MappingProxyType(
    {
        "name": _path("name"),
        "location": _path("location"),
        "nodeLocations": _path("nodeLocations"),
        "nodeCount": _path("nodeCount"),
        "machineType": _path("nodeConfig.machineType"),
        "spot": _path("nodeConfig.spot"),
        "accelerators": _accelerators,
        "serviceAccount": _path("nodeConfig.serviceAccount"),
    }
)

KEY_INPUTS: Mapping[str, Mapping[str, Extractor]] = MappingProxyType(
    {
        "gcp:projects/service:Service": {
            "service": _path("service"),
            "disableOnDestroy": _path("disableOnDestroy"),
        },
        "gcp:container/cluster:Cluster": _CLUSTER,
        "gcp:container/nodePool:NodePool": _NODE_POOL,
        "gcp:compute/subnetwork:Subnetwork": {
            "name": _path("name"),
            "region": _path("region"),
            "ipCidrRange": _path("ipCidrRange"),
            "purpose": _path("purpose"),
            "role": _path("role"),
            "network": _path("network"),
        },
        "gcp:serviceaccount/account:Account": {"accountId": _path("accountId")},
        "gcp:projects/iAMMember:IAMMember": {"role": _path("role"), "member": _path("member")},
        "gcp:projects/serviceIdentity:ServiceIdentity": {"service": _path("service")},
        "gcp:gkehub/membership:Membership": {
            "membershipId": _path("membershipId"),
            "location": _path("location"),
            "resourceLink": _path("endpoint.gkeCluster.resourceLink"),
        },
        "gcp:gkehub/feature:Feature": {
            "name": _path("name"),
            "location": _path("location"),
            "configMembership": _path("spec.multiclusteringress.configMembership"),
        },
        "pulumi:providers:kubernetes": {
            "clusterIdentifier": _path("clusterIdentifier"),
            "kubeconfig": _path("kubeconfig"),
        },
    }
)

_FALLBACK_PATHS = ("metadata.namespace", "metadata.name", "kind", "name", "location", "region")


def key_inputs(resource: PlannedResource) -> dict[str, Any]:
    """The summary inputs of one resource (absent ones left out), in a stable order."""
    extractors = KEY_INPUTS.get(resource.type)
    if extractors is None:
        extractors = {path: _path(path) for path in _FALLBACK_PATHS}
    summary: dict[str, Any] = {}
    for label, extract in extractors.items():
        value = extract(resource)
        if value is not None:
            summary[label] = value
    return summary
