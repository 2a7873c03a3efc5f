"""Validation of rendered objects: custom resources against ../shared/crds, core objects via kubernetes-validate.

The CRD folder is reference data next to the repo, absent for real users: callers skip when it is missing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT.parent / "shared" / "crds"
# The GKE version the project targets (>= 1.34.1-gke.1127000); kubernetes-validate ships its schemas.
KUBERNETES_VERSION = "1.34.0"

SchemaKey = tuple[str, str]


@functools.cache
def load_crd_schemas(crd_dir: Path = CRD_DIR) -> dict[SchemaKey, dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema for every served version of every CRD file (parsed once)."""
    schemas: dict[SchemaKey, dict[str, Any]] = {}
    # The CRD files are megabytes of YAML; the C loader parses them an order of magnitude faster.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in sorted(crd_dir.glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=loader)
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


@functools.cache
def _core_validator(kind: str, api_version: str) -> jsonschema.Draft202012Validator:
    """Kubernetes' strict schema for one kind, from the kubernetes-validate package, built once.

    Same files and layout kubernetes_validate.validate() uses; cached here because that function
    re-reads the multi-megabyte definitions file on every call.
    """
    schema_dir = f"kubernetes-json-schema/v{KUBERNETES_VERSION}-local-strict"
    # rbac.authorization.k8s.io/v1 -> rbac-v1; apps/v1 -> apps-v1; v1 -> v1
    file_api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = schema_contents(f"{schema_dir}/{kind.lower()}-{file_api}.json", KUBERNETES_VERSION)
    definitions = schema_contents(f"{schema_dir}/_definitions.json", KUBERNETES_VERSION)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate_core_object(obj: Mapping[str, Any]) -> None:
    """Raise jsonschema.ValidationError if `obj` breaks Kubernetes' own strict schema (unknown fields too)."""
    _core_validator(str(obj["kind"]), str(obj["apiVersion"])).validate(dict(obj))
