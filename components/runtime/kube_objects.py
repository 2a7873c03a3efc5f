"""How a component registers Kubernetes objects in one cluster: parented to it, through the cluster's
provider, in the service's namespace, with the project's labels, named `<prefix>-<role>`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.crds.api_versions import ApiKind
from components.crds.base import CrdModel

PART_OF = {"app.kubernetes.io/part-of": "gke-inference-gateway"}


@dataclass(frozen=True)
class KubeObjects:
    """`base`: what every object waits for (the namespace, when the service creates one); `cluster_ready`:
    what custom resources also wait for (node pools and fleet features that install their CRDs)."""

    parent: pulumi.Resource
    provider: k8s.Provider
    namespace: str
    prefix: str
    base: Sequence[pulumi.Resource] = ()
    cluster_ready: Sequence[pulumi.Resource] = ()

    def opts(
        self, depends_on: Sequence[pulumi.Resource] = (), timeouts: pulumi.CustomTimeouts | None = None
    ) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(
            parent=self.parent,
            provider=self.provider,
            depends_on=[*self.base, *depends_on],
            custom_timeouts=timeouts,
        )

    def meta(
        self,
        name: str,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        namespaced: bool = True,
    ) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=self.namespace if namespaced else None,
            labels={**PART_OF, **(labels or {})},
            annotations=annotations,
        )

    def custom_resource(
        self,
        role: str,
        object_name: str,
        spec: CrdModel,
        depends_on: Sequence[pulumi.Resource] = (),
        annotations: dict[str, str] | None = None,
    ) -> k8s.apiextensions.CustomResource:
        api: ApiKind = spec.API
        return k8s.apiextensions.CustomResource(
            f"{self.prefix}-{role}",
            api_version=api.api_version,
            kind=api.kind,
            metadata=self.meta(object_name, annotations=annotations),
            spec=spec.to_wire(),
            opts=self.opts([*self.cluster_ready, *depends_on]),
        )

    def deployment(
        self,
        role: str,
        object_name: str,
        labels: dict[str, str],
        component: str,
        replicas: int | None,
        pod: k8s.core.v1.PodSpecArgs,
        depends_on: Sequence[pulumi.Resource] = (),
        *,
        strategy: k8s.apps.v1.DeploymentStrategyArgs | None = None,
        timeouts: pulumi.CustomTimeouts | None = None,
        annotations: dict[str, str] | None = None,
    ) -> k8s.apps.v1.Deployment:
        return k8s.apps.v1.Deployment(
            f"{self.prefix}-{role}-deployment",
            metadata=self.meta(object_name, labels=labels, annotations=annotations),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                strategy=strategy,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**labels, "app.kubernetes.io/component": component}
                    ),
                    spec=pod,
                ),
            ),
            opts=self.opts(depends_on, timeouts),
        )
