"""GCPInferencePoolImport (networking.gke.io/v1): GKE creates it in the config cluster, we only point at it.

It appears, with the pool's name and namespace, once a member cluster's InferencePool carries the export
annotation; HTTPRoute backends and policy targets may reference it before it exists.
"""

from __future__ import annotations

from components.crds.api_versions import GCP_INFERENCE_POOL_IMPORT, INFERENCE_POOL
from components.crds.http_route import BackendRef


def pool_import_backend(pool_name: str, weight: int | None = None) -> BackendRef:
    """HTTPRoute backend for an exported pool, as seen from the fleet's config cluster."""
    return BackendRef(
        group=GCP_INFERENCE_POOL_IMPORT.group,
        kind=GCP_INFERENCE_POOL_IMPORT.kind,
        name=pool_name,
        weight=weight,
    )


def inference_pool_backend(pool_name: str, weight: int | None = None) -> BackendRef:
    """HTTPRoute backend for a pool in the gateway's own cluster."""
    return BackendRef(group=INFERENCE_POOL.group, kind=INFERENCE_POOL.kind, name=pool_name, weight=weight)
