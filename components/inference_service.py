"""InferenceService: every Kubernetes object of the gateway in one cluster (seeds 000 and 002).

Per cluster: namespace, HF token Secret, InferenceObjective CRD, per pool the vLLM Deployment, its
InferencePool and picker, objectives and metrics plumbing. In the config cluster (or the only cluster) also
the Gateway, HTTPRoutes and the GKE LB policies. Reads no config: everything arrives in the Args.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.crds import (
    AutoscalingMetricSpec,
    BackendLogging,
    BackendObjectReference,
    BackendPolicyConfig,
    BackendRef,
    CustomMetric,
    EndpointPickerRef,
    ExportedMetric,
    Extension,
    ExtensionChain,
    GatewayAddress,
    GatewaySpec,
    GCPBackendPolicySpec,
    GCPRoutingExtensionSpec,
    GrpcHealthCheck,
    HeaderMatch,
    HealthCheck,
    HealthCheckPolicyConfig,
    HealthCheckPolicySpec,
    HttpHealthCheck,
    HTTPRouteSpec,
    InferenceObjectiveSpec,
    InferencePoolSpec,
    LabelSelector,
    Listener,
    MetricsEndpoint,
    ParentReference,
    PathMatch,
    PodMonitoringSpec,
    PolicyTargetReference,
    PoolObjectReference,
    PortNumber,
    RequestMirror,
    RouteFilter,
    RouteMatch,
    RouteRule,
    ScrapeAuthorization,
    ScrapeEndpoint,
    ServiceBackendRef,
    TargetRef,
    inference_pool_backend,
    pool_import_backend,
)
from components.crds.api_versions import (
    GATEWAY,
    GKE_EXPORT_ANNOTATION,
    GKE_EXPORT_VALUE,
    INFERENCE_OBJECTIVE,
    INFERENCE_OBJECTIVE_CRD_URL,
    INFERENCE_POOL,
    ApiKind,
)
from components.crds.backend_policy import GKE_NAMED_METRIC_PREFIX
from components.crds.base import CrdModel
from components.crds.pod_monitoring import SecretCredentials, SecretKeySelector
from components.service_config import (
    MULTI_CLUSTER_GATEWAY_CLASS,
    CustomMetricsBalancing,
    PoolSpec,
    RouteSpec,
    ServicesConfig,
)

PICKER_GRPC_PORT = 9002
PICKER_HEALTH_PORT = 9003
PICKER_METRICS_PORT = 9090
# gRPC health service names the picker serves (as the EPP): liveness is SERVING from the start,
# readiness only once the pool is synced, so a slow sync never gets the pod killed.
PICKER_LIVENESS_SERVICE = "liveness"
PICKER_READINESS_SERVICE = "readiness"
PICKER_CONFIG_FILE = "config.yaml"
PICKER_USER_ID = 65532
HF_TOKEN_KEY = "token"
# Header the body-based router sets from the request body's `model`; routes match on it.
MODEL_NAME_HEADER = "X-Gateway-Model-Name"
METRICS_READER = "inference-gateway-sa-metrics-reader"
BBR_NAME = "body-based-router"
BBR_GRPC_PORT = 9004
BBR_HEALTH_PORT = 9005
PART_OF = {"app.kubernetes.io/part-of": "gke-inference-gateway"}

Topology = Literal["single", "multi"]


@dataclass(frozen=True, kw_only=True)
class InferenceServiceArgs:
    """Inputs of one cluster's InferenceService; `provider` is that cluster's kubernetes Provider."""

    cluster_name: str
    services: ServicesConfig
    provider: k8s.Provider
    picker_image: pulumi.Input[str]
    # None: the Secret is managed outside this stack (e.g. External Secrets); the pods still read it.
    hf_token: pulumi.Input[str] | None = None
    topology: Topology = "single"
    # Multi-cluster: True only in the fleet's config cluster (it alone gets Gateway, routes, policies).
    config_cluster: bool = True
    # Multi-cluster config cluster: every region with a target cluster gets one gateway address.
    gateway_regions: Sequence[str] = field(default_factory=tuple)
    # What must exist before GKE-owned CRDs are usable (node pools, fleet features).
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.topology == "single" and not self.config_cluster:
            raise ValueError("config_cluster: a single-cluster service always carries its own gateway")
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
        base = [namespace] if namespace is not None else []
        self._base = base
        self._hf_secret = self._hf_token_secret()
        self._objective_crd = k8s.yaml.v2.ConfigFile(
            f"{name}-inferenceobjective-crd", file=INFERENCE_OBJECTIVE_CRD_URL, opts=self._opts()
        )
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
        if args.config_cluster:
            self.gateway_name = self._gateway()

        self.register_outputs(
            {
                "clusterName": args.cluster_name,
                "namespace": self._namespace,
                "pools": sorted(self.pools),
                "gatewayName": self.gateway_name,
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

    def _metrics_reader(self) -> str:
        ns = self._namespace
        cluster_role = f"{ns}-inference-gateway-metrics-reader"
        secret_name = f"{METRICS_READER}-secret"
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
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=cluster_role
            ),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=METRICS_READER, namespace=ns)],
            opts=self._opts(),
        )
        k8s.core.v1.Secret(
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
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=f"{secret_name}-read"
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name="collector", namespace="gmp-system")
            ],
            opts=self._opts(),
        )
        return secret_name

    # ---- one pool: model server, picker, InferencePool, metrics ----------------------------------

    def _pool(self, pool: PoolSpec, metrics_secret: str) -> k8s.apiextensions.CustomResource:
        server_labels = {"app": pool.name}
        picker_name = f"{pool.name}-epp"
        deployment = self._model_server(pool, server_labels)
        picker_service = self._picker(pool, picker_name)

        # GKE only imports pools into the config cluster when asked to, with this exact annotation.
        annotations = {GKE_EXPORT_ANNOTATION: GKE_EXPORT_VALUE} if self._args.topology == "multi" else None
        inference_pool = self._custom_resource(
            f"{pool.name}-inferencepool",
            pool.name,
            InferencePoolSpec(
                selector=LabelSelector(match_labels=server_labels),
                target_ports=[PortNumber(number=pool.port)],
                endpoint_picker_ref=EndpointPickerRef(
                    name=picker_name, port=PortNumber(number=PICKER_GRPC_PORT), failure_mode=pool.failure_mode
                ),
            ),
            depends_on=[deployment, picker_service],
            annotations=annotations,
        )

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
                picker_name,
                PodMonitoringSpec(
                    selector=LabelSelector(match_labels={"inferencepool": picker_name}),
                    endpoints=[
                        ScrapeEndpoint(
                            port="metrics",
                            interval=monitoring.scrape_interval,
                            authorization=ScrapeAuthorization(
                                credentials=SecretCredentials(
                                    secret=SecretKeySelector(name=metrics_secret, key="token")
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
        core = k8s.core.v1
        http_probe = core.HTTPGetActionArgs(path=self._services.health_check.path, port="http", scheme="HTTP")
        vllm_args = [
            "--model", pool.model,
            "--tensor-parallel-size", str(pool.gpus_per_replica),
            "--port", str(pool.port),
        ]  # fmt: skip
        if pool.max_model_len is not None:
            vllm_args += ["--max-model-len", str(pool.max_model_len)]
        if pool.lora is not None:
            vllm_args += [
                "--enable-lora",
                "--max-loras",
                str(pool.lora.max_loras),
                "--max-cpu-loras",
                str(pool.lora.max_cpu_loras),
            ]
        vllm_args += pool.extra_args
        # GKE mounts the NVIDIA driver under /usr/local/nvidia; exec so SIGTERM reaches vLLM itself.
        command = (
            "PATH=$PATH:/usr/local/nvidia/bin "
            "LD_LIBRARY_PATH=$LD_LIBRARY_PATH:/usr/local/nvidia/lib:/usr/local/nvidia/lib64 "
            f"exec python3 -m vllm.entrypoints.openai.api_server {shlex.join(vllm_args)}"
        )
        env = [
            core.EnvVarArgs(name="PORT", value=str(pool.port)),
            core.EnvVarArgs(
                name="HUGGING_FACE_HUB_TOKEN",
                value_from=core.EnvVarSourceArgs(
                    secret_key_ref=core.SecretKeySelectorArgs(
                        name=self._services.hf_token_secret, key=HF_TOKEN_KEY
                    )
                ),
            ),
        ]
        mounts = [
            core.VolumeMountArgs(name="data", mount_path="/data"),
            core.VolumeMountArgs(name="shm", mount_path="/dev/shm"),
        ]
        volumes = [
            core.VolumeArgs(name="data", empty_dir=core.EmptyDirVolumeSourceArgs()),
            core.VolumeArgs(name="shm", empty_dir=core.EmptyDirVolumeSourceArgs(medium="Memory")),
        ]
        sidecars: list[core.ContainerArgs] = []
        depends_on: list[pulumi.Resource] = [self._hf_secret] if self._hf_secret is not None else []
        if pool.lora is not None:
            env.append(core.EnvVarArgs(name="VLLM_ALLOW_RUNTIME_LORA_UPDATING", value="true"))
            mounts.append(core.VolumeMountArgs(name="adapters", mount_path="/adapters"))
            adapters_map = self._lora_config_map(pool)
            depends_on.append(adapters_map)
            volumes += [
                core.VolumeArgs(name="adapters", empty_dir=core.EmptyDirVolumeSourceArgs()),
                core.VolumeArgs(
                    name="config-volume",
                    config_map=core.ConfigMapVolumeSourceArgs(name=f"{pool.name}-adapters"),
                ),
            ]
            # Native sidecar (init container that keeps running); no subPath, or ConfigMap updates never arrive.
            sidecars.append(
                core.ContainerArgs(
                    name="lora-adapter-syncer",
                    image=pool.lora.syncer_image,
                    image_pull_policy="IfNotPresent",
                    restart_policy="Always",
                    env=[core.EnvVarArgs(name="DYNAMIC_LORA_ROLLOUT_CONFIG", value="/config/configmap.yaml")],
                    volume_mounts=[core.VolumeMountArgs(name="config-volume", mount_path="/config")],
                )
            )
        gpus = {"nvidia.com/gpu": str(pool.gpus_per_replica)}
        container = core.ContainerArgs(
            name="vllm",
            image=pool.image,
            image_pull_policy="IfNotPresent",
            command=["sh", "-c"],
            args=[command],
            env=env,
            ports=[core.ContainerPortArgs(container_port=pool.port, name="http", protocol="TCP")],
            lifecycle=core.LifecycleArgs(
                pre_stop=core.LifecycleHandlerArgs(sleep=core.SleepActionArgs(seconds=pool.drain.pre_stop_s))
            ),
            liveness_probe=core.ProbeArgs(
                http_get=http_probe,
                period_seconds=1,
                success_threshold=1,
                failure_threshold=5,
                timeout_seconds=1,
            ),
            readiness_probe=core.ProbeArgs(
                http_get=http_probe,
                period_seconds=1,
                success_threshold=1,
                failure_threshold=1,
                timeout_seconds=1,
            ),
            # vLLM serves /health only once the model is loaded: give loading its whole budget.
            startup_probe=core.ProbeArgs(
                http_get=http_probe,
                initial_delay_seconds=2,
                period_seconds=1,
                failure_threshold=pool.startup_timeout_s,
            ),
            resources=core.ResourceRequirementsArgs(limits=gpus, requests=gpus),
            volume_mounts=mounts,
        )
        return k8s.apps.v1.Deployment(
            f"{self._name}-{pool.name}-deployment",
            metadata=self._meta(pool.name, labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=None if pool.autoscaling is not None else pool.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=core.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**labels, "app.kubernetes.io/component": "model-server"}
                    ),
                    spec=core.PodSpecArgs(
                        containers=[container],
                        init_containers=sidecars or None,
                        # A `vllm` Service would inject VLLM_PORT=tcp://... and crash vLLM's port parsing.
                        enable_service_links=False,
                        termination_grace_period_seconds=pool.drain.termination_grace_period_s,
                        node_selector={"cloud.google.com/gke-accelerator": pool.accelerator},
                        volumes=volumes,
                    ),
                ),
            ),
            opts=self._opts(depends_on),
        )

    def _lora_config_map(self, pool: PoolSpec) -> k8s.core.v1.ConfigMap:
        assert pool.lora is not None
        rollout = {
            "vLLMLoRAConfig": {
                "name": pool.name,
                "port": pool.port,
                "defaultBaseModel": pool.model,
                "ensureExist": {"models": [{"id": a.id, "source": a.source} for a in pool.lora.adapters]},
            }
        }
        return k8s.core.v1.ConfigMap(
            f"{self._name}-{pool.name}-adapters",
            metadata=self._meta(f"{pool.name}-adapters"),
            data={"configmap.yaml": yaml.safe_dump(rollout, sort_keys=False)},
            opts=self._opts(),
        )

    def _picker(self, pool: PoolSpec, picker_name: str) -> k8s.core.v1.Service:
        core = k8s.core.v1
        labels = {"inferencepool": picker_name}
        account = core.ServiceAccount(
            f"{self._name}-{picker_name}-sa", metadata=self._meta(picker_name), opts=self._opts()
        )
        rules = [
            k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"]),
            k8s.rbac.v1.PolicyRuleArgs(
                api_groups=[INFERENCE_POOL.group],
                resources=["inferencepools"],
                verbs=["get", "list", "watch"],
            ),
            k8s.rbac.v1.PolicyRuleArgs(
                api_groups=[INFERENCE_OBJECTIVE.group],
                resources=["inferenceobjectives"],
                verbs=["get", "list", "watch"],
            ),
        ]
        if pool.picker.replicas > 1:
            # Leader election: only the leader reports ready, so replicas need a Lease.
            rules.append(
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["coordination.k8s.io"],
                    resources=["leases"],
                    verbs=["get", "list", "watch", "create", "update", "patch"],
                )
            )
        role = k8s.rbac.v1.Role(
            f"{self._name}-{picker_name}-role",
            metadata=self._meta(picker_name),
            rules=rules,
            opts=self._opts(),
        )
        binding = k8s.rbac.v1.RoleBinding(
            f"{self._name}-{picker_name}-rolebinding",
            metadata=self._meta(picker_name),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=picker_name
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=picker_name, namespace=self._namespace)
            ],
            opts=self._opts([role, account]),
        )
        config_map = core.ConfigMap(
            f"{self._name}-{picker_name}-config",
            metadata=self._meta(picker_name),
            data={PICKER_CONFIG_FILE: yaml.safe_dump(pool.picker.config.to_wire(), sort_keys=False)},
            opts=self._opts(),
        )
        picker_args = [
            "--pool-name", pool.name,
            "--pool-namespace", self._namespace,
            "--pool-group", INFERENCE_POOL.group,
            "--config-file", f"/config/{PICKER_CONFIG_FILE}",
            "--grpc-port", str(PICKER_GRPC_PORT),
            "--grpc-health-port", str(PICKER_HEALTH_PORT),
            "--metrics-port", str(PICKER_METRICS_PORT),
            "--secure-serving",
            "--v", str(pool.picker.log_verbosity),
        ]  # fmt: skip
        if pool.picker.replicas > 1:
            picker_args.append("--ha-enable-leader-election")
        container = core.ContainerArgs(
            name="picker",
            image=self._args.picker_image,
            image_pull_policy="IfNotPresent",
            args=picker_args,
            env=[
                core.EnvVarArgs(
                    name="NAMESPACE",
                    value_from=core.EnvVarSourceArgs(
                        field_ref=core.ObjectFieldSelectorArgs(field_path="metadata.namespace")
                    ),
                )
            ],
            ports=[
                core.ContainerPortArgs(name="grpc", container_port=PICKER_GRPC_PORT, protocol="TCP"),
                core.ContainerPortArgs(name="grpc-health", container_port=PICKER_HEALTH_PORT, protocol="TCP"),
                core.ContainerPortArgs(name="metrics", container_port=PICKER_METRICS_PORT, protocol="TCP"),
            ],
            liveness_probe=core.ProbeArgs(
                grpc=core.GRPCActionArgs(port=PICKER_HEALTH_PORT, service=PICKER_LIVENESS_SERVICE),
                initial_delay_seconds=5,
                period_seconds=10,
            ),
            readiness_probe=core.ProbeArgs(
                grpc=core.GRPCActionArgs(port=PICKER_HEALTH_PORT, service=PICKER_READINESS_SERVICE),
                period_seconds=2,
            ),
            resources=core.ResourceRequirementsArgs(
                requests={"cpu": "500m", "memory": "512Mi"}, limits={"memory": "1Gi"}
            ),
            security_context=core.SecurityContextArgs(
                run_as_non_root=True,
                run_as_user=PICKER_USER_ID,
                read_only_root_filesystem=True,
                allow_privilege_escalation=False,
                capabilities=core.CapabilitiesArgs(drop=["ALL"]),
                seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            volume_mounts=[
                core.VolumeMountArgs(name="config", mount_path="/config", read_only=True),
                # Read-only root: the one writable place Python and the TLS self-signing may need.
                core.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            ],
        )
        deployment = k8s.apps.v1.Deployment(
            f"{self._name}-{picker_name}-deployment",
            metadata=self._meta(picker_name, labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=pool.picker.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=core.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**labels, "app.kubernetes.io/component": "endpoint-picker"}
                    ),
                    spec=core.PodSpecArgs(
                        service_account_name=picker_name,
                        containers=[container],
                        termination_grace_period_seconds=130,
                        volumes=[
                            core.VolumeArgs(
                                name="config", config_map=core.ConfigMapVolumeSourceArgs(name=picker_name)
                            ),
                            core.VolumeArgs(name="tmp", empty_dir=core.EmptyDirVolumeSourceArgs()),
                        ],
                    ),
                ),
            ),
            opts=self._opts([config_map, binding]),
        )
        return core.Service(
            f"{self._name}-{picker_name}-service",
            metadata=self._meta(picker_name, labels=labels),
            spec=core.ServiceSpecArgs(
                type="ClusterIP",
                selector=labels,
                ports=[
                    core.ServicePortArgs(
                        name="grpc-ext-proc",
                        port=PICKER_GRPC_PORT,
                        target_port="grpc",
                        protocol="TCP",
                        app_protocol="http2",
                    ),
                    core.ServicePortArgs(
                        name="http-metrics", port=PICKER_METRICS_PORT, target_port="metrics", protocol="TCP"
                    ),
                ],
            ),
            opts=self._opts([deployment]),
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
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{self._name}-{pool.name}-hpa",
            metadata=self._meta(pool.name),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=pool.name
                ),
                min_replicas=hpa.min_replicas,
                max_replicas=hpa.max_replicas,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Pods",
                        pods=k8s.autoscaling.v2.PodsMetricSourceArgs(
                            metric=k8s.autoscaling.v2.MetricIdentifierArgs(
                                name=f"prometheus.googleapis.com|{prometheus_metric}|gauge"
                            ),
                            target=k8s.autoscaling.v2.MetricTargetArgs(
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
        gateway = self._custom_resource(
            "gateway",
            gateway_name,
            GatewaySpec(
                gateway_class_name=MULTI_CLUSTER_GATEWAY_CLASS if multi else services.gateway.gateway_class,
                addresses=[GatewayAddress.ephemeral_in_region(r) for r in self._args.gateway_regions]
                if multi
                else None,
                listeners=[Listener(name="http", protocol="HTTP", port=services.gateway.port)],
            ),
        )
        if services.needs_body_based_routing:
            self._body_based_router(gateway_name, gateway)
        backend = pool_import_backend if multi else inference_pool_backend
        # Multi-cluster targets exist only once GKE imports the exported pools; they may resolve later.
        pools = [] if multi else list(self.pools.values())
        for route in services.effective_routes:
            self._custom_resource(
                f"route-{route.name}",
                route.name,
                HTTPRouteSpec(
                    parent_refs=[ParentReference(group=GATEWAY.group, kind=GATEWAY.kind, name=gateway_name)],
                    rules=[self._route_rule(route, backend)],
                ),
                depends_on=[gateway, *pools],
            )
        for pool in services.pools:
            target = (
                PolicyTargetReference.pool_import(pool.name)
                if multi
                else PolicyTargetReference.inference_pool(pool.name)
            )
            self._custom_resource(
                f"{pool.name}-healthcheckpolicy",
                pool.name,
                HealthCheckPolicySpec(
                    target_ref=target,
                    default=HealthCheckPolicyConfig(
                        check_interval_sec=services.health_check.check_interval_s,
                        timeout_sec=services.health_check.timeout_s,
                        config=HealthCheck(
                            http_health_check=HttpHealthCheck(
                                port_specification="USE_FIXED_PORT",
                                port=pool.port,
                                request_path=services.health_check.path,
                            )
                        ),
                    ),
                ),
                depends_on=pools,
            )
            self._custom_resource(
                f"{pool.name}-gcpbackendpolicy",
                pool.name,
                GCPBackendPolicySpec(target_ref=target, default=self._backend_policy_config()),
                depends_on=pools,
            )
        return gateway_name

    def _body_based_router(self, gateway_name: str, gateway: pulumi.Resource) -> None:
        """BBR: copies the body's `model` into X-Gateway-Model-Name so routes can pick the pool."""
        core = k8s.core.v1
        spec = self._services.body_based_router
        labels = {"app": BBR_NAME}
        deployment = k8s.apps.v1.Deployment(
            f"{self._name}-bbr-deployment",
            metadata=self._meta(BBR_NAME, labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=spec.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=core.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**labels, "app.kubernetes.io/component": "body-based-router"}
                    ),
                    spec=core.PodSpecArgs(
                        containers=[
                            core.ContainerArgs(
                                name="bbr",
                                image=spec.image,
                                image_pull_policy="IfNotPresent",
                                # Streaming: the LB sends the body in full-duplex mode.
                                args=["--streaming", "--v", "3"],
                                ports=[
                                    core.ContainerPortArgs(name="grpc", container_port=BBR_GRPC_PORT),
                                    core.ContainerPortArgs(
                                        name="grpc-health", container_port=BBR_HEALTH_PORT
                                    ),
                                ],
                                liveness_probe=core.ProbeArgs(
                                    grpc=core.GRPCActionArgs(port=BBR_HEALTH_PORT), period_seconds=10
                                ),
                                readiness_probe=core.ProbeArgs(
                                    grpc=core.GRPCActionArgs(port=BBR_HEALTH_PORT), period_seconds=2
                                ),
                                security_context=core.SecurityContextArgs(
                                    run_as_non_root=True,
                                    run_as_user=PICKER_USER_ID,
                                    read_only_root_filesystem=True,
                                    allow_privilege_escalation=False,
                                    capabilities=core.CapabilitiesArgs(drop=["ALL"]),
                                    seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
                                ),
                            )
                        ],
                    ),
                ),
            ),
            opts=self._opts(),
        )
        service = core.Service(
            f"{self._name}-bbr-service",
            metadata=self._meta(BBR_NAME, labels=labels),
            spec=core.ServiceSpecArgs(
                selector=labels,
                ports=[
                    core.ServicePortArgs(
                        name="grpc",
                        port=BBR_GRPC_PORT,
                        target_port="grpc",
                        protocol="TCP",
                        app_protocol="HTTP2",
                    )
                ],
            ),
            opts=self._opts([deployment]),
        )
        self._custom_resource(
            "bbr-healthcheckpolicy",
            BBR_NAME,
            HealthCheckPolicySpec(
                target_ref=PolicyTargetReference.service(BBR_NAME),
                default=HealthCheckPolicyConfig(
                    config=HealthCheck(
                        type="GRPC",
                        grpc_health_check=GrpcHealthCheck(
                            port_specification="USE_FIXED_PORT", port=BBR_HEALTH_PORT
                        ),
                    )
                ),
            ),
            depends_on=[service],
        )
        self._custom_resource(
            "bbr-routingextension",
            BBR_NAME,
            GCPRoutingExtensionSpec(
                target_refs=[TargetRef(group=GATEWAY.group, kind=GATEWAY.kind, name=gateway_name)],
                extension_chains=[
                    ExtensionChain(
                        name="model-name",
                        extensions=[
                            Extension(
                                name=BBR_NAME,
                                authority=f"{BBR_NAME}.{self._namespace}.svc",
                                timeout="1s",
                                supported_events=["RequestHeaders", "RequestBody", "RequestTrailers"],
                                request_body_send_mode="FullDuplexStreamed",
                                backend_ref=ServiceBackendRef(name=BBR_NAME, port=BBR_GRPC_PORT),
                            )
                        ],
                    )
                ],
            ),
            depends_on=[gateway, service],
        )

    def _route_rule(self, route: RouteSpec, backend: Any) -> RouteRule:
        path = PathMatch(value=route.path_prefix)
        matches = (
            [
                RouteMatch(path=path, headers=[HeaderMatch(name=MODEL_NAME_HEADER, value=model)])
                for model in route.models
            ]
            if route.models
            else [RouteMatch(path=path)]
        )
        single_backend = len(route.backends) == 1
        backend_refs: list[BackendRef] = [
            backend(weighted.pool, weight=None if single_backend else weighted.weight)
            for weighted in route.backends
        ]
        filters = None
        if route.mirror is not None:
            mirror_target: BackendRef = backend(route.mirror.pool)
            filters = [
                RouteFilter(
                    request_mirror=RequestMirror(
                        backend_ref=BackendObjectReference(
                            group=mirror_target.group, kind=mirror_target.kind, name=mirror_target.name
                        ),
                        percent=route.mirror.percent if route.mirror.percent < 100 else None,
                    )
                )
            ]
        return RouteRule(matches=matches, filters=filters, backend_refs=backend_refs)

    def _backend_policy_config(self) -> BackendPolicyConfig:
        policy = self._services.backend_policy
        balancing = policy.balancing
        logging = BackendLogging(enabled=True) if policy.logging else None
        if isinstance(balancing, CustomMetricsBalancing):
            return BackendPolicyConfig(
                timeout_sec=policy.timeout_s,
                logging=logging,
                balancing_mode="CUSTOM_METRICS",
                traffic_duration="LONG",
                custom_metrics=[
                    CustomMetric(
                        name=f"{GKE_NAMED_METRIC_PREFIX}{balancing.metric}",
                        dry_run=balancing.dry_run,
                        max_utilization_percent=balancing.max_utilization_percent,
                    )
                ],
            )
        return BackendPolicyConfig(
            timeout_sec=policy.timeout_s,
            logging=logging,
            balancing_mode="IN_FLIGHT",
            traffic_duration="LONG",
            max_in_flight_requests_per_endpoint=balancing.max_requests_per_endpoint,
            dry_run=balancing.dry_run,
        )
