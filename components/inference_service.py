"""InferenceService: every Kubernetes object of the gateway in one cluster (seeds 000 and 002).

Per pool the vLLM Deployment, InferencePool and picker, plus objectives and metrics plumbing; in the config
(or only) cluster also Gateway, HTTPRoutes and GKE LB policies. Reads no config: all of it comes in the Args.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.config.services import PoolSpec, ServicesConfig
from components.crds import (
    AutoscalingMetricSpec,
    EndpointPickerRef,
    ExportedMetric,
    InferenceObjectiveSpec,
    InferencePoolSpec,
    LabelSelector,
    MetricsEndpoint,
    PodMonitoringSpec,
    PoolObjectReference,
    PortNumber,
    ScrapeAuthorization,
    ScrapeEndpoint,
)
from components.crds.api_versions import (
    GKE_EXPORT_ANNOTATION,
    GKE_EXPORT_VALUE,
    INFERENCE_OBJECTIVE_CRD_FILE,
    ApiKind,
)
from components.crds.base import CrdModel
from components.crds.pod_monitoring import SecretCredentials, SecretKeySelector
from components.runtime.kube_object import KubeObjectWithStatus
from components.specs.body_based_router import (
    BBR_LABELS,
    BBR_NAME,
    bbr_health_check_policy_spec,
    bbr_pod_spec,
    bbr_routing_extension_spec,
    bbr_service_ports,
)
from components.specs.model_armor_extension import model_armor_extension_spec
from components.specs.model_server import (
    HF_TOKEN_KEY,
    LORA_CONFIG_KEY,
    adapters_config_map_name,
    lora_rollout_config,
    model_server_pod_spec,
)
from components.specs.network_policies import PoolNetworkPolicyInputs, pool_network_policies
from components.specs.picker_workload import (
    PICKER_CONFIG_FILE,
    PICKER_GRPC_PORT,
    PICKER_METRICS_TOKEN_KEY,
    picker_labels,
    picker_name,
    picker_pod_spec,
    picker_rbac_rules,
    picker_service_ports,
)
from components.specs.rollout_budget import (
    IMAGE_PULL_ANNOTATION,
    MAX_SURGE,
    MAX_UNAVAILABLE,
    create_budget_s,
    go_duration,
    update_budget_s,
)
from components.specs.traffic_specs import (
    backend_policy_spec,
    gateway_spec,
    health_check_policy_spec,
    http_route_spec,
)

METRICS_READER = "inference-gateway-sa-metrics-reader"
METRICS_READER_SECRET = f"{METRICS_READER}-secret"
PART_OF = {"app.kubernetes.io/part-of": "gke-inference-gateway"}
RBAC_GROUP = "rbac.authorization.k8s.io"
# pulumi-kubernetes' custom readiness condition (>= 4.18), replacing "no wait" for kinds it does not know.
WAIT_FOR = "pulumi.com/waitFor"
# GKE provisions the load balancer behind a Gateway; an address shows once it is programmed.
GATEWAY_ADDRESS_WAIT = "jsonpath={.status.addresses[0].value}"
GATEWAY_TIMEOUT = pulumi.CustomTimeouts(create="20m", update="20m")

Topology = Literal["single", "multi"]


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
    """The gateway's Kubernetes layer in one cluster. Outputs: pool names, gateway name (config cluster)."""

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
        self._base = [namespace] if namespace is not None else []
        self._hf_secret = self._hf_token_secret()
        self._objective_crd = self._inference_objective_crd()
        metrics_secret = self._metrics_reader()

        self.pools: dict[str, pulumi.CustomResource] = {}
        for pool in self._services.pools:
            self.pools[pool.name] = self._pool(pool, metrics_secret)

        for objective in self._services.objectives:
            self._custom_resource(
                f"objective-{objective.name}",
                objective.name,
                InferenceObjectiveSpec(
                    priority=objective.priority, pool_ref=PoolObjectReference(name=objective.pool)
                ),
                depends_on=[self._objective_crd, self.pools[objective.pool]],
            )

        self.gateway_name: str | None = None
        self.gateway_addresses: pulumi.Output[list[str]] | None = None
        if args.config_cluster:
            self.gateway_name = self._gateway()

        self.register_outputs(
            {
                "clusterName": args.cluster_name,
                "namespace": self._namespace,
                "pools": sorted(self.pools),
                "gatewayName": self.gateway_name,
                "gatewayAddresses": self.gateway_addresses,
            }
        )

    # ---- plumbing -------------------------------------------------------------------------------

    def _opts(self, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(
            parent=self, provider=self._args.provider, depends_on=[*self._base, *depends_on]
        )

    def _meta(
        self,
        name: str,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        namespaced: bool = True,
    ) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=self._namespace if namespaced else None,
            labels={**PART_OF, **(labels or {})},
            annotations=annotations,
        )

    def _custom_resource(
        self,
        role: str,
        object_name: str,
        spec: CrdModel,
        depends_on: Sequence[pulumi.Resource] = (),
        annotations: dict[str, str] | None = None,
    ) -> k8s.apiextensions.CustomResource:
        api: ApiKind = spec.API  # type: ignore[attr-defined]
        return k8s.apiextensions.CustomResource(
            f"{self._name}-{role}",
            api_version=api.api_version,
            kind=api.kind,
            metadata=self._meta(object_name, annotations=annotations),
            spec=spec.to_wire(),
            opts=self._opts([*self._args.depends_on, *depends_on]),
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
            opts=pulumi.ResourceOptions(parent=self, provider=self._args.provider, depends_on=self._base),
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
            metadata=self._meta(self._services.hf_token_secret),
            type="Opaque",
            string_data={HF_TOKEN_KEY: pulumi.Output.secret(self._args.hf_token)},
            opts=self._opts(),
        )

    # ---- metrics reader (seed 002): lets Managed Prometheus' collector scrape authenticated /metrics ----

    def _metrics_reader(self) -> k8s.core.v1.Secret:
        ns = self._namespace
        cluster_role = f"{ns}-inference-gateway-metrics-reader"
        secret_name = METRICS_READER_SECRET
        account = k8s.core.v1.ServiceAccount(
            f"{self._name}-metrics-reader-sa", metadata=self._meta(METRICS_READER), opts=self._opts()
        )
        k8s.rbac.v1.ClusterRole(
            f"{self._name}-metrics-reader-role",
            metadata=self._meta(cluster_role, namespaced=False),
            rules=[k8s.rbac.v1.PolicyRuleArgs(non_resource_urls=["/metrics"], verbs=["get"])],
            opts=self._opts(),
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{self._name}-metrics-reader-binding",
            metadata=self._meta(f"{cluster_role}-role-binding", namespaced=False),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group=RBAC_GROUP, kind="ClusterRole", name=cluster_role),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=METRICS_READER, namespace=ns)],
            opts=self._opts(),
        )
        secret = k8s.core.v1.Secret(
            f"{self._name}-metrics-reader-secret",
            metadata=self._meta(
                secret_name, annotations={"kubernetes.io/service-account.name": METRICS_READER}
            ),
            type="kubernetes.io/service-account-token",
            opts=self._opts([account]),
        )
        # Namespaced and limited to the one Secret: the collector needs nothing else here.
        k8s.rbac.v1.Role(
            f"{self._name}-metrics-secret-read",
            metadata=self._meta(f"{secret_name}-read"),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["secrets"],
                    resource_names=[secret_name],
                    verbs=["get", "list", "watch"],
                )
            ],
            opts=self._opts(),
        )
        k8s.rbac.v1.RoleBinding(
            f"{self._name}-metrics-secret-read-binding",
            metadata=self._meta(f"gmp-system-collector-{secret_name}-read"),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group=RBAC_GROUP, kind="Role", name=f"{secret_name}-read"),
            subjects=[
                k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name="collector", namespace="gmp-system")
            ],
            opts=self._opts(),
        )
        return secret

    # ---- one pool: model server, picker, InferencePool, metrics ----------------------------------

    def _pool(self, pool: PoolSpec, metrics_secret: pulumi.Resource) -> k8s.apiextensions.CustomResource:
        """Order matters for `pulumi up`: the InferencePool exists before the picker Deployment, whose pods
        turn ready only once they have read their pool (docs/deploying.md, the deploy rehearsal)."""
        server_labels = {"app": pool.name}
        deployment = self._model_server(pool, server_labels)
        self._network_policies(pool, server_labels)

        # GKE only imports pools into the config cluster when asked to, with this exact annotation.
        annotations = {GKE_EXPORT_ANNOTATION: GKE_EXPORT_VALUE} if self._args.topology == "multi" else None
        # Not awaited and waiting on nothing: the picker and the routes need it, it needs no ready pod.
        inference_pool = self._custom_resource(
            f"{pool.name}-inferencepool",
            pool.name,
            InferencePoolSpec(
                selector=LabelSelector(match_labels=server_labels),
                target_ports=[PortNumber(number=pool.port)],
                endpoint_picker_ref=EndpointPickerRef(
                    name=picker_name(pool),
                    port=PortNumber(number=PICKER_GRPC_PORT),
                    failure_mode=pool.failure_mode,
                ),
            ),
            annotations=annotations,
        )
        self._picker(pool, metrics_secret, inference_pool)

        monitoring = self._services.monitoring
        if monitoring.autoscaling_metric:
            # Only the >= 0.10.2 metric: the config refuses older vLLM images, so no kv-cache-old export.
            self._custom_resource(
                f"{pool.name}-autoscalingmetric",
                f"{pool.name}-kv-cache",
                AutoscalingMetricSpec(
                    selector=LabelSelector(match_labels=server_labels),
                    endpoints=[
                        MetricsEndpoint(
                            port=pool.port,
                            metrics=[ExportedMetric(name="vllm:kv_cache_usage_perc", export_name="kv-cache")],
                        )
                    ],
                ),
            )
        if monitoring.pod_monitoring:
            self._custom_resource(
                f"{pool.name}-epp-podmonitoring",
                picker_name(pool),
                PodMonitoringSpec(
                    selector=LabelSelector(match_labels=picker_labels(pool)),
                    endpoints=[
                        ScrapeEndpoint(
                            port="metrics",
                            interval=monitoring.scrape_interval,
                            authorization=ScrapeAuthorization(
                                credentials=SecretCredentials(
                                    secret=SecretKeySelector(
                                        name=METRICS_READER_SECRET, key=PICKER_METRICS_TOKEN_KEY
                                    )
                                )
                            ),
                        )
                    ],
                ),
            )
        if pool.autoscaling is not None:
            self._autoscaler(pool, deployment, server_labels)
        return inference_pool

    def _deployment(
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
        opts = self._opts(depends_on)
        if timeouts is not None:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(custom_timeouts=timeouts))
        return k8s.apps.v1.Deployment(
            f"{self._name}-{role}-deployment",
            metadata=self._meta(object_name, labels=labels, annotations=annotations),
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
            opts=opts,
        )

    def _model_server(self, pool: PoolSpec, labels: dict[str, str]) -> k8s.apps.v1.Deployment:
        depends_on: list[pulumi.Resource] = [self._hf_secret] if self._hf_secret is not None else []
        if pool.lora is not None:
            depends_on.append(
                k8s.core.v1.ConfigMap(
                    f"{self._name}-{pool.name}-adapters",
                    metadata=self._meta(adapters_config_map_name(pool)),
                    data={LORA_CONFIG_KEY: yaml.safe_dump(lora_rollout_config(pool), sort_keys=False)},
                    opts=self._opts(),
                )
            )
        return self._deployment(
            pool.name,
            pool.name,
            labels,
            "model-server",
            # With an HPA the autoscaler owns the count; a fixed one would fight it on every update.
            None if pool.autoscaling is not None else pool.replicas,
            model_server_pod_spec(pool, self._services.health_check.path, self._services.hf_token_secret),
            depends_on,
            # A GPU pool has no spare accelerator for a surge pod: replace one replica at a time.
            strategy=k8s.apps.v1.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                    max_surge=MAX_SURGE, max_unavailable=MAX_UNAVAILABLE
                ),
            ),
            # Image pull + model download and load: far past pulumi-kubernetes' 10-minute default.
            timeouts=pulumi.CustomTimeouts(
                create=go_duration(create_budget_s(pool)), update=go_duration(update_budget_s(pool))
            ),
            annotations={IMAGE_PULL_ANNOTATION: str(pool.image_pull_s)},
        )

    def _picker(
        self, pool: PoolSpec, metrics_secret: pulumi.Resource, inference_pool: pulumi.Resource
    ) -> k8s.core.v1.Service:
        name = picker_name(pool)
        labels = picker_labels(pool)
        account = k8s.core.v1.ServiceAccount(
            f"{self._name}-{name}-sa", metadata=self._meta(name), opts=self._opts()
        )
        role = k8s.rbac.v1.Role(
            f"{self._name}-{name}-role",
            metadata=self._meta(name),
            rules=picker_rbac_rules(pool),
            opts=self._opts(),
        )
        binding = k8s.rbac.v1.RoleBinding(
            f"{self._name}-{name}-rolebinding",
            metadata=self._meta(name),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group=RBAC_GROUP, kind="Role", name=name),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=name, namespace=self._namespace)],
            opts=self._opts([role, account]),
        )
        config_map = k8s.core.v1.ConfigMap(
            f"{self._name}-{name}-config",
            metadata=self._meta(name),
            data={PICKER_CONFIG_FILE: pool.picker.config_text},
            opts=self._opts(),
        )
        deployment = self._deployment(
            name,
            name,
            labels,
            "endpoint-picker",
            pool.picker.replicas,
            # The token PodMonitoring sends: the picker accepts exactly that one on /metrics.
            picker_pod_spec(pool, self._namespace, self._args.picker_image, METRICS_READER_SECRET),
            # Everything its pods need to turn ready: config, RBAC, the token volume and the pool it serves.
            [config_map, binding, metrics_secret, inference_pool, *self._args.picker_image_resources],
        )
        return k8s.core.v1.Service(
            f"{self._name}-{name}-service",
            metadata=self._meta(name, labels=labels),
            spec=k8s.core.v1.ServiceSpecArgs(type="ClusterIP", selector=labels, ports=picker_service_ports()),
            opts=self._opts([deployment]),
        )

    def _network_policies(self, pool: PoolSpec, server_labels: dict[str, str]) -> None:
        if not self._args.proxy_only_ranges:
            return
        inputs = PoolNetworkPolicyInputs(
            pool_name=pool.name,
            namespace=self._namespace,
            model_server_labels=server_labels,
            model_server_port=pool.port,
            picker_labels=picker_labels(pool),
            proxy_only_ranges=tuple(self._args.proxy_only_ranges),
        )
        for name, spec in pool_network_policies(inputs).items():
            k8s.networking.v1.NetworkPolicy(
                f"{self._name}-{name}", metadata=self._meta(name), spec=spec, opts=self._opts()
            )

    def _autoscaler(self, pool: PoolSpec, deployment: k8s.apps.v1.Deployment, labels: dict[str, str]) -> None:
        assert pool.autoscaling is not None
        hpa = pool.autoscaling
        # The HPA reads vLLM's gauges from Managed Prometheus via the custom-metrics adapter, so scrape them.
        self._custom_resource(
            f"{pool.name}-podmonitoring",
            pool.name,
            PodMonitoringSpec(
                selector=LabelSelector(match_labels=labels),
                endpoints=[ScrapeEndpoint(port="http", interval=self._services.monitoring.scrape_interval)],
            ),
        )
        prometheus_metric = {
            "queue-depth": "vllm:num_requests_waiting",
            "kv-cache": "vllm:kv_cache_usage_perc",
        }[hpa.metric]
        autoscaling = k8s.autoscaling.v2
        autoscaling.HorizontalPodAutoscaler(
            f"{self._name}-{pool.name}-hpa",
            metadata=self._meta(pool.name),
            spec=autoscaling.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=autoscaling.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=pool.name
                ),
                min_replicas=hpa.min_replicas,
                max_replicas=hpa.max_replicas,
                metrics=[
                    autoscaling.MetricSpecArgs(
                        type="Pods",
                        pods=autoscaling.PodsMetricSourceArgs(
                            metric=autoscaling.MetricIdentifierArgs(
                                name=f"prometheus.googleapis.com|{prometheus_metric}|gauge"
                            ),
                            target=autoscaling.MetricTargetArgs(
                                type="AverageValue", average_value=f"{hpa.target_value:g}"
                            ),
                        ),
                    )
                ],
            ),
            opts=self._opts([deployment]),
        )

    # ---- gateway, routes and LB policies (config cluster / single cluster) ------------------------

    def _gateway(self) -> str:
        services = self._services
        multi = self._args.topology == "multi"
        gateway_name = services.gateway.name
        spec = gateway_spec(services.gateway, multi, self._args.gateway_regions)
        # Awaited until GKE gave it an address; its proxies need the proxy-only subnets, which therefore
        # also outlive it on `pulumi destroy`.
        gateway = KubeObjectWithStatus(
            f"{self._name}-gateway",
            api_version=spec.API.api_version,
            kind=spec.API.kind,
            metadata=self._meta(gateway_name, annotations={WAIT_FOR: GATEWAY_ADDRESS_WAIT}),
            spec=spec.to_wire(),
            opts=pulumi.ResourceOptions.merge(
                self._opts([*self._args.depends_on, *self._args.gateway_depends_on]),
                pulumi.ResourceOptions(custom_timeouts=GATEWAY_TIMEOUT),
            ),
        )
        self.gateway_addresses = gateway.status.apply(_gateway_addresses)
        if services.needs_body_based_routing:
            self._body_based_router(gateway_name, gateway)
        if services.model_armor is not None:
            assert self._args.model_armor_template is not None and self._args.model_armor_location is not None
            self._custom_resource(
                "model-armor-extension",
                f"{gateway_name}-model-armor",
                model_armor_extension_spec(
                    gateway_name,
                    self._args.model_armor_location,
                    self._args.model_armor_template,
                    services.model_armor,
                ),
                depends_on=[gateway],
            )
        # Multi-cluster targets exist only once GKE imports the exported pools; they may resolve later.
        pools = [] if multi else list(self.pools.values())
        for route in services.effective_routes:
            self._custom_resource(
                f"route-{route.name}",
                route.name,
                http_route_spec(route, gateway_name, multi),
                depends_on=[gateway, *pools],
            )
        for pool in services.pools:
            self._custom_resource(
                f"{pool.name}-healthcheckpolicy",
                pool.name,
                health_check_policy_spec(pool, services.health_check, multi),
                depends_on=pools,
            )
            self._custom_resource(
                f"{pool.name}-gcpbackendpolicy",
                pool.name,
                backend_policy_spec(pool, services.backend_policy, multi),
                depends_on=pools,
            )
        return gateway_name

    def _body_based_router(self, gateway_name: str, gateway: pulumi.Resource) -> None:
        deployment = self._deployment(
            "bbr", BBR_NAME, BBR_LABELS, "body-based-router", self._services.body_based_router.replicas,
            bbr_pod_spec(self._services.body_based_router),
        )  # fmt: skip
        service = k8s.core.v1.Service(
            f"{self._name}-bbr-service",
            metadata=self._meta(BBR_NAME, labels=BBR_LABELS),
            spec=k8s.core.v1.ServiceSpecArgs(selector=BBR_LABELS, ports=bbr_service_ports()),
            opts=self._opts([deployment]),
        )
        self._custom_resource(
            "bbr-healthcheckpolicy", BBR_NAME, bbr_health_check_policy_spec(), depends_on=[service]
        )
        self._custom_resource(
            "bbr-routingextension",
            BBR_NAME,
            bbr_routing_extension_spec(gateway_name, self._namespace),
            depends_on=[gateway, service],
        )


def _gateway_addresses(status: object) -> list[str]:
    """`status.addresses[*].value` of a Gateway (empty until GKE assigned them)."""
    if not isinstance(status, dict):
        return []
    return [str(entry["value"]) for entry in status.get("addresses") or [] if entry.get("value")]
