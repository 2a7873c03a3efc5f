"""Validation of rendered objects: custom resources against ../shared/crds, core objects via kubernetes-validate.

The CRD folder is reference data next to the repo, absent for real users: callers skip when it is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT.parent / "shared" / "crds"
# The GKE version the project targets (>= 1.34.1-gke.1127000); kubernetes-validate ships its schemas.
KUBERNETES_VERSION = "1.34.0"

SchemaKey = tuple[str, str]


def load_crd_schemas(crd_dir: Path = CRD_DIR) -> dict[SchemaKey, dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema for every served version of every CRD file."""
    schemas: dict[SchemaKey, dict[str, Any]] = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        for version in spec["versions"]:
            schema = version.get("schema", {}).get("openAPIV3Schema")
            if schema is not None:
                schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = schema
    return schemas


def is_core_api(api_version: str) -> bool:
    """Built-in Kubernetes APIs: no dot in the group, or a *.k8s.io group Kubernetes itself serves."""
    group = api_version.rpartition("/")[0]
    return "." not in group or group in {"rbac.authorization.k8s.io", "apiextensions.k8s.io"}


def validate_custom_resource(obj: Mapping[str, Any], schemas: Mapping[SchemaKey, dict[str, Any]]) -> None:
    """Raise jsonschema.ValidationError if `obj` breaks its CRD's schema; KeyError if no CRD is known."""
    schema = schemas[(obj["apiVersion"], obj["kind"])]
    jsonschema.validate(dict(obj), schema, cls=jsonschema.Draft7Validator)


def validate_core_object(obj: Mapping[str, Any]) -> None:
    """Raise kubernetes_validate.ValidationError if `obj` breaks Kubernetes' own (strict) schema."""
    kubernetes_validate.validate(dict(obj), KUBERNETES_VERSION, strict=True)
