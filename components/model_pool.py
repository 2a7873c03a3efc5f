"""ModelPool: one InferencePool of one cluster: the vLLM Deployment (and its LoRA adapters), the
InferencePool, its endpoint picker (account, RBAC, ConfigMap, Deployment, Service; for active-active replicas
the headless Service naming their peers), its InferenceObjectives,
NetworkPolicies, metrics exports and autoscaler. Reads no config beyond its Args.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

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
from components.crds.api_versions import GKE_EXPORT_ANNOTATION, GKE_EXPORT_VALUE
from components.crds.pod_monitoring import SecretCredentials, SecretKeySelector
from components.runtime.kube_objects import KubeObjects
from components.specs.conventions import METRICS_READER_SECRET, RBAC_GROUP, Topology
from components.specs.model_server import (
    LORA_CONFIG_KEY,
    adapters_config_map_name,
    kv_event_ports,
    lora_rollout_config,
    model_server_pod_spec,
)
from components.specs.network_policies import PoolNetworkPolicyInputs, pool_network_policies
from components.specs.picker_workload import (
    PICKER_CONFIG_FILE,
    PICKER_GRPC_PORT,
    PICKER_METRICS_TOKEN_KEY,
    picker_config_text,
    picker_labels,
    picker_name,
    picker_peers_name,
    picker_peers_service_spec,
    picker_placement_port,
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


@dataclass(frozen=True, kw_only=True)
class ModelPoolArgs:
    """One pool of `services`, in the cluster of `provider`, next to what InferenceService shares between
    its pools (`hf_secret` None: the Secret is managed outside the stack; the pods still read it)."""

    pool: PoolSpec
    services: ServicesConfig
    provider: k8s.Provider
    topology: Topology
    picker_image: pulumi.Input[str]
    picker_image_resources: Sequence[pulumi.Resource] = field(default_factory=tuple)
    metrics_secret: pulumi.Resource
    objective_crd: pulumi.Resource
    hf_secret: pulumi.Resource | None = None
    # What every object waits for (the namespace) and what custom resources also wait for (node pools).
    base: Sequence[pulumi.Resource] = field(default_factory=tuple)
    cluster_ready: Sequence[pulumi.Resource] = field(default_factory=tuple)
    proxy_only_ranges: Sequence[str] = field(default_factory=tuple)
    # Pulumi names of the children: `<resource_prefix>-<pool>-...` (the InferenceService's name).
    resource_prefix: str


class ModelPool(pulumi.ComponentResource):
    """Output `inference_pool`: the InferencePool resource (routes and policies wait for it)."""

    inference_pool: k8s.apiextensions.CustomResource

    def __init__(self, name: str, args: ModelPoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("infgw:index:ModelPool", name, {"pool": args.pool.name}, opts)
        self._args = args
        self._kube = KubeObjects(
            self, args.provider, args.services.namespace, args.resource_prefix, args.base, args.cluster_ready
        )
        self.inference_pool = self._build(args.pool)
        for objective in args.services.objectives:
            if objective.pool != args.pool.name:
                continue
            self._kube.custom_resource(
                f"objective-{objective.name}",
                objective.name,
                InferenceObjectiveSpec(
                    priority=objective.priority, pool_ref=PoolObjectReference(name=objective.pool)
                ),
                depends_on=[args.objective_crd, self.inference_pool],
            )
        self.register_outputs({"pool": args.pool.name})

    def _build(self, pool: PoolSpec) -> k8s.apiextensions.CustomResource:
        """Order matters for `pulumi up`: the InferencePool exists before the picker Deployment, whose pods
        turn ready only once they have read their pool (docs/deploying.md, the deploy rehearsal)."""
        server_labels = {"app": pool.name}
        deployment = self._model_server(pool, server_labels)
        self._network_policies(pool, server_labels)

        # GKE only imports pools into the config cluster when asked to, with this exact annotation.
        annotations = {GKE_EXPORT_ANNOTATION: GKE_EXPORT_VALUE} if self._args.topology == "multi" else None
        # Not awaited and waiting on nothing: the picker and the routes need it, it needs no ready pod.
        inference_pool = self._kube.custom_resource(
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
        self._picker(pool, inference_pool)

        monitoring = self._args.services.monitoring
        if monitoring.autoscaling_metric:
            # Only the >= 0.10.2 metric: the config refuses older vLLM images, so no kv-cache-old export.
            self._kube.custom_resource(
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
            self._kube.custom_resource(
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


    def _model_server(self, pool: PoolSpec, labels: dict[str, str]) -> k8s.apps.v1.Deployment:
        depends_on: list[pulumi.Resource] = [self._args.hf_secret] if self._args.hf_secret is not None else []
        if pool.lora is not None:
            depends_on.append(
                k8s.core.v1.ConfigMap(
                    f"{self._kube.prefix}-{pool.name}-adapters",
                    metadata=self._kube.meta(adapters_config_map_name(pool)),
                    data={LORA_CONFIG_KEY: yaml.safe_dump(lora_rollout_config(pool), sort_keys=False)},
                    opts=self._kube.opts(),
                )
            )
        return self._kube.deployment(
            pool.name,
            pool.name,
            labels,
            "model-server",
            # With an HPA the autoscaler owns the count; a fixed one would fight it on every update.
            None if pool.autoscaling is not None else pool.replicas,
            model_server_pod_spec(pool, self._args.services.health_check.path, self._args.services.hf_token_secret),
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


    def _picker(self, pool: PoolSpec, inference_pool: pulumi.Resource) -> k8s.core.v1.Service:
        name = picker_name(pool)
        labels = picker_labels(pool)
        account = k8s.core.v1.ServiceAccount(
            f"{self._kube.prefix}-{name}-sa", metadata=self._kube.meta(name), opts=self._kube.opts()
        )
        role = k8s.rbac.v1.Role(
            f"{self._kube.prefix}-{name}-role",
            metadata=self._kube.meta(name),
            rules=picker_rbac_rules(pool),
            opts=self._kube.opts(),
        )
        binding = k8s.rbac.v1.RoleBinding(
            f"{self._kube.prefix}-{name}-rolebinding",
            metadata=self._kube.meta(name),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group=RBAC_GROUP, kind="Role", name=name),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=name, namespace=self._kube.namespace)],
            opts=self._kube.opts([role, account]),
        )
        config_map = k8s.core.v1.ConfigMap(
            f"{self._kube.prefix}-{name}-config",
            metadata=self._kube.meta(name),
            data={PICKER_CONFIG_FILE: picker_config_text(pool)},
            opts=self._kube.opts(),
        )
        ready_before_pods: list[pulumi.Resource] = []
        if (peers_spec := picker_peers_service_spec(pool)) is not None:
            # Active-active replicas find each other through its name: it exists before their pods start
            # (a headless Service is ready once created; pulumi waits on no endpoints for it).
            ready_before_pods.append(
                k8s.core.v1.Service(
                    f"{self._kube.prefix}-{name}-peers-service",
                    metadata=self._kube.meta(picker_peers_name(pool), labels=labels),
                    spec=peers_spec,
                    opts=self._kube.opts(),
                )
            )
        deployment = self._kube.deployment(
            name,
            name,
            labels,
            "endpoint-picker",
            pool.picker.replicas,
            # The token PodMonitoring sends: the picker accepts exactly that one on /metrics.
            picker_pod_spec(
                pool,
                self._kube.namespace,
                self._args.picker_image,
                METRICS_READER_SECRET,
                self._args.services.hf_token_secret,
            ),
            # Everything its pods need to turn ready: config, RBAC, the token volume and the pool it serves.
            [
                config_map,
                binding,
                self._args.metrics_secret,
                inference_pool,
                *ready_before_pods,
                *self._args.picker_image_resources,
            ],
        )
        return k8s.core.v1.Service(
            f"{self._kube.prefix}-{name}-service",
            metadata=self._kube.meta(name, labels=labels),
            spec=k8s.core.v1.ServiceSpecArgs(type="ClusterIP", selector=labels, ports=picker_service_ports()),
            opts=self._kube.opts([deployment]),
        )


    def _network_policies(self, pool: PoolSpec, server_labels: dict[str, str]) -> None:
        if not self._args.proxy_only_ranges:
            return
        inputs = PoolNetworkPolicyInputs(
            pool_name=pool.name,
            namespace=self._kube.namespace,
            model_server_labels=server_labels,
            model_server_port=pool.port,
            picker_labels=picker_labels(pool),
            proxy_only_ranges=tuple(self._args.proxy_only_ranges),
            picker_only_ports=kv_event_ports(pool),
            picker_placement_port=picker_placement_port(pool),
        )
        for name, spec in pool_network_policies(inputs).items():
            k8s.networking.v1.NetworkPolicy(
                f"{self._kube.prefix}-{name}", metadata=self._kube.meta(name), spec=spec, opts=self._kube.opts()
            )


    def _autoscaler(self, pool: PoolSpec, deployment: k8s.apps.v1.Deployment, labels: dict[str, str]) -> None:
        assert pool.autoscaling is not None
        hpa = pool.autoscaling
        # The HPA reads vLLM's gauges from Managed Prometheus via the custom-metrics adapter, so scrape them.
        self._kube.custom_resource(
            f"{pool.name}-podmonitoring",
            pool.name,
            PodMonitoringSpec(
                selector=LabelSelector(match_labels=labels),
                endpoints=[ScrapeEndpoint(port="http", interval=self._args.services.monitoring.scrape_interval)],
            ),
        )
        prometheus_metric = {
            "queue-depth": "vllm:num_requests_waiting",
            "kv-cache": "vllm:kv_cache_usage_perc",
        }[hpa.metric]
        autoscaling = k8s.autoscaling.v2
        autoscaling.HorizontalPodAutoscaler(
            f"{self._kube.prefix}-{pool.name}-hpa",
            metadata=self._kube.meta(pool.name),
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
            opts=self._kube.opts([deployment]),
        )
