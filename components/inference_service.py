"""InferenceService: the gateway's Kubernetes layer in one cluster (Google's single- and multi-cluster
guides): what the cluster's pools share (namespace, Hugging Face token Secret, the InferenceObjective CRD,
the metrics reader Managed Prometheus scrapes the pickers with), one ModelPool per pool, and in the config
(or only) cluster the GatewayFront. Reads no config: all of it comes in the Args.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.config.services import ServicesConfig
from components.crds.api_versions import INFERENCE_OBJECTIVE_CRD_FILE
from components.gateway_front import GatewayFront, GatewayFrontArgs
from components.model_pool import ModelPool, ModelPoolArgs
from components.runtime.kube_objects import PART_OF, KubeObjects
from components.specs.conventions import METRICS_READER, METRICS_READER_SECRET, RBAC_GROUP, WAIT_FOR, Topology
from components.specs.model_server import HF_TOKEN_KEY


@dataclass(frozen=True, kw_only=True)
class InferenceServiceArgs:
    """Inputs of one cluster's InferenceService; `provider` is that cluster's kubernetes Provider."""

    cluster_name: str
    services: ServicesConfig
    provider: k8s.Provider
    picker_image: pulumi.Input[str]
    # What makes `picker_image` pullable (the image push), so picker pods never pull before it.
    picker_image_resources: Sequence[pulumi.Resource] = field(default_factory=tuple)
    # None: the Secret is managed outside this stack (e.g. External Secrets); the pods still read it.
    hf_token: pulumi.Input[str] | None = None
    topology: Topology = "single"
    # Multi-cluster: True only in the fleet's config cluster (it alone gets Gateway, routes, policies).
    config_cluster: bool = True
    # Multi-cluster config cluster: every region with a target cluster gets one gateway address.
    gateway_regions: Sequence[str] = field(default_factory=tuple)
    # What must exist before GKE-owned CRDs are usable (node pools, fleet features).
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    # Config cluster with services.modelArmor: the ModelArmorGuard's template and its region.
    model_armor_template: str | None = None
    model_armor_location: str | None = None
    # What the Gateway's proxies need (the proxy-only subnets): created before it, deleted after it.
    gateway_depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    # The gateway's proxy-only subnet ranges (every region whose proxies reach this cluster): with them,
    # each pool gets NetworkPolicies (components/specs/network_policies.py); empty creates none.
    proxy_only_ranges: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.topology == "single" and not self.config_cluster:
            raise ValueError("config_cluster: a single-cluster service always carries its own gateway")
        wants_armor = self.config_cluster and self.services.model_armor is not None
        if wants_armor and (self.model_armor_template is None or self.model_armor_location is None):
            raise ValueError(
                "model_armor_template/model_armor_location: services.modelArmor is set; pass the "
                "ModelArmorGuard's template name and region"
            )
        if self.topology == "multi" and self.config_cluster and not self.gateway_regions:
            raise ValueError(
                "gateway_regions: the multi-cluster gateway needs one address per region; got none"
            )


class InferenceService(pulumi.ComponentResource):
    """The gateway's Kubernetes layer in one cluster. Outputs: pool names, gateway name and addresses
    (config cluster)."""

    def __init__(
        self, name: str, args: InferenceServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("infgw:index:InferenceService", name, {"clusterName": args.cluster_name}, opts)
        self._name = name
        self._args = args
        self._services = args.services
        self._namespace = args.services.namespace

        namespace = self._namespace_resource()
        # Everything namespaced waits for the namespace when this component creates one.
        base = [namespace] if namespace is not None else []
        self._kube = KubeObjects(self, args.provider, self._namespace, name, base, args.depends_on)
        hf_secret = self._hf_token_secret()
        objective_crd = self._inference_objective_crd()
        metrics_secret = self._metrics_reader()

        self.pools: dict[str, pulumi.CustomResource] = {}
        for pool in self._services.pools:
            self.pools[pool.name] = ModelPool(
                f"{name}-{pool.name}",
                ModelPoolArgs(
                    pool=pool,
                    services=self._services,
                    provider=args.provider,
                    topology=args.topology,
                    picker_image=args.picker_image,
                    picker_image_resources=args.picker_image_resources,
                    metrics_secret=metrics_secret,
                    objective_crd=objective_crd,
                    hf_secret=hf_secret,
                    base=base,
                    cluster_ready=args.depends_on,
                    proxy_only_ranges=args.proxy_only_ranges,
                    resource_prefix=name,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            ).inference_pool

        self.gateway_name: str | None = None
        self.gateway_addresses: pulumi.Output[list[str]] | None = None
        if args.config_cluster:
            front = GatewayFront(
                f"{name}-gateway-front",
                GatewayFrontArgs(
                    services=self._services,
                    provider=args.provider,
                    topology=args.topology,
                    gateway_regions=args.gateway_regions,
                    pools=list(self.pools.values()),
                    gateway_depends_on=args.gateway_depends_on,
                    model_armor_template=args.model_armor_template,
                    model_armor_location=args.model_armor_location,
                    base=base,
                    cluster_ready=args.depends_on,
                    resource_prefix=name,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.gateway_name, self.gateway_addresses = front.gateway_name, front.gateway_addresses

        self.register_outputs(
            {
                "clusterName": args.cluster_name,
                "namespace": self._namespace,
                "pools": sorted(self.pools),
                "gatewayName": self.gateway_name,
                "gatewayAddresses": self.gateway_addresses,
            }
        )

    def _namespace_resource(self) -> k8s.core.v1.Namespace | None:
        if self._namespace == "default":
            return None
        return k8s.core.v1.Namespace(
            f"{self._name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=self._namespace, labels=PART_OF),
            opts=pulumi.ResourceOptions(parent=self, provider=self._args.provider),
        )


    def _inference_objective_crd(self) -> k8s.apiextensions.v1.CustomResourceDefinition:
        """The CRD from the file shipped with the program; objectives wait until the API serves it
        (pulumi-kubernetes has no built-in wait for `Established`)."""
        document = yaml.safe_load(INFERENCE_OBJECTIVE_CRD_FILE.read_text(encoding="utf-8"))
        return k8s.apiextensions.v1.CustomResourceDefinition(
            f"{self._name}-inferenceobjective-crd",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=document["metadata"]["name"],
                annotations={**document["metadata"].get("annotations", {}), WAIT_FOR: "condition=Established"},
            ),
            spec=document["spec"],
            opts=self._kube.opts(),
        )


    def _hf_token_secret(self) -> k8s.core.v1.Secret | None:
        if self._args.hf_token is None:
            pulumi.log.warn(
                f"{self._args.cluster_name}: no hfToken set; create Secret {self._services.hf_token_secret!r} "
                f"(key {HF_TOKEN_KEY!r}) yourself or `pulumi config set --secret hfToken hf_...`",
                resource=self,
            )
            return None
        return k8s.core.v1.Secret(
            f"{self._name}-hf-token",
            metadata=self._kube.meta(self._services.hf_token_secret),
            type="Opaque",
            string_data={HF_TOKEN_KEY: pulumi.Output.secret(self._args.hf_token)},
            opts=self._kube.opts(),
        )


    def _metrics_reader(self) -> k8s.core.v1.Secret:
        ns = self._namespace
        cluster_role = f"{ns}-inference-gateway-metrics-reader"
        secret_name = METRICS_READER_SECRET
        account = k8s.core.v1.ServiceAccount(
            f"{self._name}-metrics-reader-sa", metadata=self._kube.meta(METRICS_READER), opts=self._kube.opts()
        )
        k8s.rbac.v1.ClusterRole(
            f"{self._name}-metrics-reader-role",
            metadata=self._kube.meta(cluster_role, namespaced=False),
            rules=[k8s.rbac.v1.PolicyRuleArgs(non_resource_urls=["/metrics"], verbs=["get"])],
            opts=self._kube.opts(),
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{self._name}-metrics-reader-binding",
            metadata=self._kube.meta(f"{cluster_role}-role-binding", namespaced=False),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group=RBAC_GROUP, kind="ClusterRole", name=cluster_role),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=METRICS_READER, namespace=ns)],
            opts=self._kube.opts(),
        )
        secret = k8s.core.v1.Secret(
            f"{self._name}-metrics-reader-secret",
            metadata=self._kube.meta(
                secret_name, annotations={"kubernetes.io/service-account.name": METRICS_READER}
            ),
            type="kubernetes.io/service-account-token",
            opts=self._kube.opts([account]),
        )
        # Namespaced and limited to the one Secret: the collector needs nothing else here.
        k8s.rbac.v1.Role(
            f"{self._name}-metrics-secret-read",
            metadata=self._kube.meta(f"{secret_name}-read"),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["secrets"],
                    resource_names=[secret_name],
                    verbs=["get", "list", "watch"],
                )
            ],
            opts=self._kube.opts(),
        )
        k8s.rbac.v1.RoleBinding(
            f"{self._name}-metrics-secret-read-binding",
            metadata=self._kube.meta(f"gmp-system-collector-{secret_name}-read"),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group=RBAC_GROUP, kind="Role", name=f"{secret_name}-read"),
            subjects=[
                k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name="collector", namespace="gmp-system")
            ],
            opts=self._kube.opts(),
        )
        return secret
