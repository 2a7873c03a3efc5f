"""A Kubernetes object registered exactly as pulumi-kubernetes' ``apiextensions.CustomResource`` registers
it, that also reads back the object's ``status`` (CustomResource exposes only its inputs).

Used for the Gateway, whose address (``status.addresses``) becomes a stack output once
``pulumi.com/waitFor`` has held `pulumi up` until GKE programmed it.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes import _utilities


class KubeObjectWithStatus(pulumi.CustomResource):
    """``kubernetes:<group>/<version>:<Kind>`` with ``status`` as an output (unknown during preview)."""

    status: pulumi.Output[Any]

    def __init__(
        self,
        resource_name: str,
        *,
        api_version: str,
        kind: str,
        metadata: k8s.meta.v1.ObjectMetaArgs,
        spec: Any,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec, "status": None}
        # The provider version pulumi-kubernetes' own resources pin (its helper is untyped).
        version: str = _utilities.get_version()  # type: ignore[no-untyped-call]
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=version))
        super().__init__(f"kubernetes:{api_version}:{kind}", resource_name, props, opts)
