"""InferenceService under Pulumi mocks: what each cluster gets, single- and multi-cluster (Google's multi-cluster guide and single-cluster tutorial)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from picker.profiles import profile_text

from components.config.services import ServicesConfig
from infgw.plan.model import SECRET, PlannedResource

GOLDEN = Path(__file__).parent / "golden" / "inference_service"
COMPONENT = "infgw:index:InferenceService"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECRET_TYPE = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
POOL = "kubernetes:inference.networking.k8s.io/v1:InferencePool"
OBJECTIVE = "kubernetes:inference.networking.x-k8s.io/v1alpha2:InferenceObjective"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
HEALTH = "kubernetes:networking.gke.io/v1:HealthCheckPolicy"
BACKEND = "kubernetes:networking.gke.io/v1:GCPBackendPolicy"
METRIC = "kubernetes:autoscaling.gke.io/v1beta1:AutoscalingMetric"
CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
PICKER_IMAGE = "us-docker.pkg.dev/example-project/inference-gateway/picker:0.1.0"
GATEWAY_KINDS = {GATEWAY, ROUTE, HEALTH, BACKEND}
ARMOR_TEMPLATE = "projects/example-project/locations/us-central1/templates/inference-gateway"
# What the composition root passes when services.modelArmor is set (ignored otherwise).
ARMOR = {"model_armor_template": ARMOR_TEMPLATE, "model_armor_location": "us-central1"}


def services(name: str, **changes: Any) -> ServicesConfig:
    data = yaml.safe_load((GOLDEN / f"{name}.yaml").read_text())
    data.update(changes)
    return ServicesConfig.model_validate(data)


def build(pulumi_mocks: Any, config: ServicesConfig, **overrides: Any) -> list[PlannedResource]:
    import pulumi_kubernetes as k8s

    from components.inference_service import InferenceService, InferenceServiceArgs

    def program() -> None:
        provider = k8s.Provider("gke-west-k8s", kubeconfig="unused-under-mocks")
        args: dict[str, Any] = {
            "cluster_name": "gke-west",
            "services": config,
            "provider": provider,
            "picker_image": PICKER_IMAGE,
            "hf_token": "hf_example",
            **ARMOR,
            **overrides,
        }
        InferenceService("gke-west-inference", InferenceServiceArgs(**args))

    return pulumi_mocks.record(program)


def multi_config_cluster(pulumi_mocks: Any, config: ServicesConfig | None = None) -> list[PlannedResource]:
    return build(
        pulumi_mocks,
        config or services("services_multi"),
        topology="multi",
        gateway_regions=["europe-west3", "us-east4"],
    )


def of_type(resources: list[PlannedResource], type_token: str) -> list[PlannedResource]:
    return [resource for resource in resources if resource.type == type_token]


def named(resources: list[PlannedResource], type_token: str, object_name: str) -> PlannedResource:
    (match,) = [r for r in of_type(resources, type_token) if r.get("metadata.name") == object_name]
    return match


def container(deployment: PlannedResource, name: str, init: bool = False) -> dict[str, Any]:
    key = "spec.template.spec.initContainers" if init else "spec.template.spec.containers"
    (match,) = [c for c in deployment.get(key) if c["name"] == name]
    return match


# ---- inventories: the whole object set per topology, reviewed as YAML ----------------------------------


@pytest.mark.parametrize(
    ("case", "config", "overrides"),
    [
        (
            "multi_config_cluster",
            "services_multi",
            {"topology": "multi", "gateway_regions": ["europe-west3", "us-east4"]},
        ),
        ("multi_target_cluster", "services_multi", {"topology": "multi", "config_cluster": False}),
        ("single_cluster", "services_single", {}),
        ("model_routing", "services_routing", {}),
        ("active_active_pickers", "services_active_active", {"proxy_only_ranges": ["10.129.0.0/23"]}),
    ],
)
def test_inventory(
    pulumi_mocks: Any, golden_inventory: Any, case: str, config: str, overrides: dict[str, Any]
) -> None:
    golden_inventory(build(pulumi_mocks, services(config), **overrides), GOLDEN / f"inventory_{case}.yaml")


# ---- structure ----------------------------------------------------------------------------------------


def test_every_child_is_parented_and_uses_the_given_provider(pulumi_mocks: Any) -> None:
    resources = multi_config_cluster(pulumi_mocks)
    (component,) = of_type(resources, COMPONENT)
    (provider,) = of_type(resources, "pulumi:providers:kubernetes")
    children = [r for r in resources if r.type.startswith("kubernetes:")]
    assert children
    # Shared objects directly under the service; per pool a ModelPool, in the config cluster a GatewayFront.
    parts = {r.urn: r for r in resources if r.type in ("infgw:index:ModelPool", "infgw:index:GatewayFront")}
    assert {parts[urn].name for urn in parts} == {
        "gke-west-inference-vllm-llama3-8b-instruct",
        "gke-west-inference-gateway-front",
    }
    assert {p.parent_urn for p in parts.values()} == {component.urn}
    assert {r.parent_urn for r in children} == {component.urn, *parts}
    # A provider reference is "<urn>::<id>".
    assert {r.provider.rpartition("::")[0] for r in children} == {provider.urn}
    assert component.inputs == {"clusterName": "gke-west"}


def test_custom_resources_wait_for_their_definitions(pulumi_mocks: Any) -> None:
    resources = multi_config_cluster(pulumi_mocks)
    (crd,) = of_type(resources, CRD)
    # Shipped with the program (no URL read at preview or up), awaited until the API serves it.
    assert crd.get("metadata.name") == "inferenceobjectives.inference.networking.x-k8s.io"
    assert crd.get("metadata.annotations")["pulumi.com/waitFor"] == "condition=Established"
    assert crd.get("metadata.annotations")["inference.networking.k8s.io/bundle-version"] == "v1.1.0"
    objective = named(resources, OBJECTIVE, "food-review")
    pool = named(resources, POOL, "vllm-llama3-8b-instruct")
    assert crd.urn in objective.dependencies and pool.urn in objective.dependencies


def test_target_cluster_gets_the_pool_but_no_gateway(pulumi_mocks: Any) -> None:
    resources = build(pulumi_mocks, services("services_multi"), topology="multi", config_cluster=False)
    assert not [r for r in resources if r.type in GATEWAY_KINDS]
    pool = named(resources, POOL, "vllm-llama3-8b-instruct")
    assert pool.get("metadata.annotations") == {"networking.gke.io/export": "True"}
    assert of_type(resources, OBJECTIVE) and of_type(resources, METRIC)


# ---- the multi-cluster guide: config cluster of a fleet ---------------------------------------------------------------


def test_multi_cluster_gateway_addresses_one_ephemeral_ip_per_region(pulumi_mocks: Any) -> None:
    gateway = named(multi_config_cluster(pulumi_mocks), GATEWAY, "cross-region-gateway")
    assert gateway.get("spec.gatewayClassName") == "gke-l7-cross-regional-internal-managed-mc"
    assert gateway.get("spec.addresses") == [
        {"type": "networking.gke.io/ephemeral-ipv4-address/europe-west3", "value": "europe-west3"},
        {"type": "networking.gke.io/ephemeral-ipv4-address/us-east4", "value": "us-east4"},
    ]
    assert gateway.get("spec.listeners") == [{"name": "http", "protocol": "HTTP", "port": 80}]


def test_multi_cluster_route_and_policies_target_the_pool_import(pulumi_mocks: Any) -> None:
    resources = multi_config_cluster(pulumi_mocks)
    import_ref = {
        "group": "networking.gke.io",
        "kind": "GCPInferencePoolImport",
        "name": "vllm-llama3-8b-instruct",
    }
    route = named(resources, ROUTE, "vllm-llama3-8b-instruct")
    assert route.get("spec.rules[0].backendRefs") == [import_ref]
    assert named(resources, HEALTH, "vllm-llama3-8b-instruct").get("spec.targetRef") == import_ref
    policy = named(resources, BACKEND, "vllm-llama3-8b-instruct")
    assert policy.get("spec.targetRef") == import_ref
    assert policy.get("spec.default") == {
        "timeoutSec": 100,
        "logging": {"enabled": True},
        "balancingMode": "CUSTOM_METRICS",
        "trafficDuration": "LONG",
        "customMetrics": [
            {"name": "gke.named_metrics.kv-cache", "dryRun": False, "maxUtilizationPercent": 60}
        ],
    }


def test_in_flight_balancing(pulumi_mocks: Any) -> None:
    config = services(
        "services_multi", backendPolicy={"timeoutSec": 600, "inFlight": {"maxRequestsPerEndpoint": 1000}}
    )
    policy = named(multi_config_cluster(pulumi_mocks, config), BACKEND, "vllm-llama3-8b-instruct")
    default = policy.get("spec.default")
    assert default["balancingMode"] == "IN_FLIGHT"
    assert default["maxInFlightRequestsPerEndpoint"] == 1000
    assert default["trafficDuration"] == "LONG"
    assert "customMetrics" not in default


def test_kv_cache_is_exported_for_the_load_balancer(pulumi_mocks: Any) -> None:
    metric = named(multi_config_cluster(pulumi_mocks), METRIC, "vllm-llama3-8b-instruct-kv-cache")
    assert metric.get("spec") == {
        "selector": {"matchLabels": {"app": "vllm-llama3-8b-instruct"}},
        "endpoints": [
            {
                "port": 8000,
                "path": "/metrics",
                "metrics": [{"name": "vllm:kv_cache_usage_perc", "exportName": "kv-cache"}],
            }
        ],
    }


# ---- the single-cluster tutorial: one cluster --------------------------------------------------------------------------


def test_single_cluster_gateway_route_and_policies(pulumi_mocks: Any) -> None:
    resources = build(pulumi_mocks, services("services_single"))
    pool_ref = {
        "group": "inference.networking.k8s.io",
        "kind": "InferencePool",
        "name": "vllm-llama3-1-8b-instruct",
    }
    assert named(resources, GATEWAY, "inference-gateway").get("spec") == {
        "gatewayClassName": "gke-l7-regional-external-managed",
        "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}],
    }
    route = named(resources, ROUTE, "vllm-llama3-1-8b-instruct")
    assert route.get("spec.rules[0].backendRefs") == [pool_ref]
    assert route.get("spec.rules[0].matches") == [{"path": {"type": "PathPrefix", "value": "/"}}]
    health = named(resources, HEALTH, "vllm-llama3-1-8b-instruct")
    assert health.get("spec.targetRef") == pool_ref
    assert health.get("spec.default.config") == {
        "type": "HTTP",
        "httpHealthCheck": {"portSpecification": "USE_FIXED_PORT", "port": 8000, "requestPath": "/health"},
    }
    pool = named(resources, POOL, "vllm-llama3-1-8b-instruct")
    assert pool.get("metadata.annotations") is None
    assert pool.get("spec") == {
        "selector": {"matchLabels": {"app": "vllm-llama3-1-8b-instruct"}},
        "targetPorts": [{"number": 8000}],
        "endpointPickerRef": {
            "name": "vllm-llama3-1-8b-instruct-epp",
            "port": {"number": 9002},
            "failureMode": "FailClose",
        },
    }
    objectives = {r.get("metadata.name"): r.get("spec") for r in of_type(resources, OBJECTIVE)}
    assert objectives == {
        "food-review": {"priority": 10, "poolRef": pool_ref},
        "llama3-base-model": {"priority": 20, "poolRef": pool_ref},
    }


def test_rilb_gateway_class(pulumi_mocks: Any) -> None:
    config = services("services_single", gateway={"gatewayClass": "gke-l7-rilb"})
    gateway = named(build(pulumi_mocks, config), GATEWAY, "inference-gateway")
    assert gateway.get("spec.gatewayClassName") == "gke-l7-rilb"


def test_vllm_deployment_follows_seed_002(pulumi_mocks: Any) -> None:
    resources = build(pulumi_mocks, services("services_single"))
    deployment = named(resources, DEPLOYMENT, "vllm-llama3-1-8b-instruct")
    pod = deployment.get("spec.template.spec")
    vllm = container(deployment, "vllm")
    command = vllm["args"][0]
    assert vllm["command"] == ["sh", "-c"]
    assert (
        "exec python3 -m vllm.entrypoints.openai.api_server --model meta-llama/Llama-3.1-8B-Instruct"
        in command
    )
    assert "--enable-lora --max-loras 2 --max-cpu-loras 12 --max-lora-rank 16" in command
    # Upstream's reference manifest batches 1024 sequences; vLLM's own default is lower.
    assert "--max-num-seqs 1024" in command
    # The golden single stack's services run fcfs (vLLM's default): no scheduling flag for vLLM or picker.
    assert "--scheduling-policy" not in command
    # One replica at a time, none added: a fully used GPU pool has no accelerator for a surge pod.
    assert deployment.get("spec.strategy") == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }
    # pulumi up waits for image pull + model load: 600 + 600 + 120 s, not the 10-minute default.
    assert deployment.custom_timeouts["create"] == "22m"
    assert deployment.get("metadata.annotations")["infgw.dev/image-pull-seconds"] == "600"
    assert vllm["image"] == "vllm/vllm-openai:v0.13.0"
    assert vllm["resources"] == {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}
    assert vllm["lifecycle"] == {"preStop": {"sleep": {"seconds": 30}}}
    assert vllm["startupProbe"]["failureThreshold"] == 600
    assert vllm["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http", "scheme": "HTTP"}
    assert {
        "name": "HUGGING_FACE_HUB_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}},
    } in vllm["env"]
    assert pod["enableServiceLinks"] is False
    assert pod["terminationGracePeriodSeconds"] == 132
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
    assert {"name": "shm", "emptyDir": {"medium": "Memory"}} in pod["volumes"]
    syncer = container(deployment, "lora-adapter-syncer", init=True)
    assert syncer["restartPolicy"] == "Always"
    assert syncer["image"].endswith("lora-syncer:v1.1.0")
    adapters = named(resources, CONFIG_MAP, "vllm-llama3-1-8b-instruct-adapters")
    rollout = yaml.safe_load(adapters.get("data")["configmap.yaml"])["vLLMLoRAConfig"]
    assert rollout["defaultBaseModel"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert [m["id"] for m in rollout["ensureExist"]["models"]] == ["food-review", "cad-fabricator"]


def test_pool_without_lora_has_no_syncer(pulumi_mocks: Any) -> None:
    data = yaml.safe_load((GOLDEN / "services_single.yaml").read_text())
    del data["pools"][0]["lora"]
    resources = build(pulumi_mocks, ServicesConfig.model_validate(data))
    deployment = named(resources, DEPLOYMENT, "vllm-llama3-1-8b-instruct")
    assert deployment.get("spec.template.spec.initContainers") is None
    assert "--enable-lora" not in container(deployment, "vllm")["args"][0]
    assert not [r for r in of_type(resources, CONFIG_MAP) if r.get("metadata.name").endswith("-adapters")]


def test_picker_is_least_privilege_and_locked_down(pulumi_mocks: Any) -> None:
    resources = build(pulumi_mocks, services("services_single"))
    name = "vllm-llama3-1-8b-instruct-epp"
    picker = container(named(resources, DEPLOYMENT, name), "picker")
    assert picker["image"] == PICKER_IMAGE
    assert "--model-server-scheduling-policy" not in picker["args"]
    # The leader-election holder identity comes from the downward API.
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in picker["env"]
    assert picker["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert [(p["name"], p["containerPort"]) for p in picker["ports"]] == [
        ("grpc", 9002),
        ("grpc-health", 9003),
        ("metrics", 9090),
    ]
    assert picker["livenessProbe"]["grpc"] == {"port": 9003, "service": "liveness"}
    assert picker["readinessProbe"]["grpc"] == {"port": 9003, "service": "readiness"}
    args = picker["args"]
    for flag, value in [("--pool-name", "vllm-llama3-1-8b-instruct"), ("--pool-namespace", "default"),
                        ("--config-file", "/config/config.yaml"), ("--grpc-port", "9002")]:  # fmt: skip
        assert args[args.index(flag) + 1] == value
    assert "--secure-serving" in args
    role = named(resources, "kubernetes:rbac.authorization.k8s.io/v1:Role", name)
    assert role.get("rules") == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": ["inference.networking.k8s.io"],
            "resources": ["inferencepools"],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": ["inference.networking.x-k8s.io"],
            "resources": ["inferenceobjectives"],
            "verbs": ["get", "list", "watch"],
        },
    ]
    config = named(resources, CONFIG_MAP, name).get("data")["config.yaml"]
    # The mounted file is the shipped profile, byte for byte (the stack's default is `recommended`).
    assert config == profile_text("recommended")
    service = named(resources, "kubernetes:core/v1:Service", name)
    assert [(p["name"], p["port"]) for p in service.get("spec.ports")] == [
        ("grpc-ext-proc", 9002),
        ("http-metrics", 9090),
    ]


def test_hf_token_is_stored_as_a_secret(pulumi_mocks: Any) -> None:
    secret = named(build(pulumi_mocks, services("services_single")), SECRET_TYPE, "hf-token")
    # The token never appears in the plan: the whole stringData is a secret.
    assert secret.get("stringData") == SECRET
    assert "stringData" in secret.secret_paths


def test_without_hf_token_the_secret_is_left_to_the_operator(pulumi_mocks: Any) -> None:
    resources = build(pulumi_mocks, services("services_single"), hf_token=None)
    assert [r.get("metadata.name") for r in of_type(resources, SECRET_TYPE)] == [
        "inference-gateway-sa-metrics-reader-secret"
    ]


def test_namespace_is_created_when_not_default(pulumi_mocks: Any) -> None:
    resources = build(pulumi_mocks, services("services_single", namespace="inference"))
    (namespace,) = of_type(resources, "kubernetes:core/v1:Namespace")
    assert namespace.get("metadata.name") == "inference"
    namespaced = [r for r in resources if r.type.startswith("kubernetes:") and r.get("metadata.namespace")]
    assert {r.get("metadata.namespace") for r in namespaced} == {"inference"}
    assert all(namespace.urn in r.dependencies for r in namespaced)


# ---- model-aware routing, canary, mirroring, HPA -------------------------------------------------------


def test_model_routes_weights_mirror_and_body_based_router(pulumi_mocks: Any) -> None:
    resources = build(pulumi_mocks, services("services_routing"))
    llama = named(resources, ROUTE, "llama").get("spec.rules[0]")
    assert llama["matches"] == [
        {
            "path": {"type": "PathPrefix", "value": "/"},
            "headers": [
                {"type": "Exact", "name": "X-Gateway-Model-Name", "value": "meta-llama/Llama-3.1-8B-Instruct"}
            ],
        }
    ]
    assert [(b["name"], b["weight"]) for b in llama["backendRefs"]] == [
        ("llama-stable", 90),
        ("llama-canary", 10),
    ]
    assert llama["filters"] == [
        {
            "type": "RequestMirror",
            "requestMirror": {
                "backendRef": {
                    "group": "inference.networking.k8s.io",
                    "kind": "InferencePool",
                    "name": "llama-canary",
                },
                "percent": 5,
            },
        }
    ]
    extension = named(resources, "kubernetes:networking.gke.io/v1:GCPRoutingExtension", "body-based-router")
    assert extension.get("spec.targetRefs") == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "inference-gateway"}
    ]
    assert extension.get("spec.extensionChains[0].extensions[0].backendRef") == {
        "group": "",
        "kind": "Service",
        "name": "body-based-router",
        "port": 9004,
    }
    assert named(resources, DEPLOYMENT, "body-based-router")


def test_hpa_scales_on_queue_depth(pulumi_mocks: Any) -> None:
    resources = build(pulumi_mocks, services("services_routing"))
    hpa = named(resources, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "phi4-mini")
    assert hpa.get("spec.maxReplicas") == 6
    assert (
        hpa.get("spec.metrics[0].pods.metric.name")
        == "prometheus.googleapis.com|vllm:num_requests_waiting|gauge"
    )
    assert hpa.get("spec.metrics[0].pods.target") == {"type": "AverageValue", "averageValue": "5"}
    # The HPA owns the replica count; a fixed one would fight it on every update.
    assert named(resources, DEPLOYMENT, "phi4-mini").get("spec.replicas") is None


def test_single_pool_route_needs_no_body_based_router(pulumi_mocks: Any) -> None:
    resources = build(pulumi_mocks, services("services_single"))
    assert not [r for r in resources if r.get("metadata.name") == "body-based-router"]


# ---- args ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"topology": "single", "config_cluster": False}, "config_cluster"),
        ({"topology": "multi", "config_cluster": True, "gateway_regions": ()}, "gateway_regions"),
    ],
)
def test_args_reject_impossible_combinations(overrides: dict[str, Any], message: str) -> None:
    from components.inference_service import InferenceServiceArgs

    with pytest.raises(ValueError, match=message):
        InferenceServiceArgs(
            cluster_name="c",
            services=services("services_single"),
            provider=None,  # type: ignore[arg-type]
            picker_image=PICKER_IMAGE,
            **overrides,
        )


def test_priority_scheduling_reaches_vllm_and_the_picker_together(pulumi_mocks: Any) -> None:
    data = yaml.safe_load((GOLDEN / "services_single.yaml").read_text())
    data["pools"][0]["schedulingPolicy"] = "priority"
    resources = build(pulumi_mocks, ServicesConfig.model_validate(data))
    assert "--scheduling-policy priority" in container(named(resources, DEPLOYMENT, "vllm-llama3-1-8b-instruct"), "vllm")["args"][0]
    picker = container(named(resources, DEPLOYMENT, "vllm-llama3-1-8b-instruct-epp"), "picker")
    args = picker["args"]
    assert args[args.index("--model-server-scheduling-policy") + 1] == "priority"


# ---- active-active pickers: placements shared over UDP 9004 through a headless Service -----------------

PICKER = "vllm-llama3-1-8b-instruct-epp"
PEERS = f"{PICKER}-peers"
SERVICE = "kubernetes:core/v1:Service"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def with_picker(pulumi_mocks: Any, picker: dict[str, Any]) -> list[PlannedResource]:
    data = yaml.safe_load((GOLDEN / "services_single.yaml").read_text())
    data["pools"][0]["picker"] = picker
    return build(pulumi_mocks, ServicesConfig.model_validate(data), proxy_only_ranges=["10.129.0.0/23"])


def placement_rules(resources: list[PlannedResource]) -> list[dict[str, Any]]:
    policy = named(resources, NETWORK_POLICY, f"{PICKER}-ingress")
    return [rule for rule in policy.get("spec.ingress") if any(p["protocol"] == "UDP" for p in rule["ports"])]


def test_active_active_pickers_get_their_peers_service_port_flags_and_policy(pulumi_mocks: Any) -> None:
    resources = with_picker(pulumi_mocks, {"replicas": 2, "profile": "precise"})
    deployment = named(resources, DEPLOYMENT, PICKER)
    labels = deployment.get("spec.selector.matchLabels")
    peers = named(resources, SERVICE, PEERS)
    assert peers.get("metadata.namespace") == "default"
    assert peers.get("spec") == {
        "clusterIP": "None",
        "selector": labels,
        "publishNotReadyAddresses": True,
        "ports": [{"name": "udp-placements", "port": 9004, "targetPort": "placements", "protocol": "UDP"}],
    }
    # The name resolves before the pods ask for it.
    assert peers.urn in deployment.dependencies
    picker = container(deployment, "picker")
    assert {"name": "placements", "containerPort": 9004, "protocol": "UDP"} in picker["ports"]
    args = picker["args"]
    assert args[args.index("--placement-port") + 1] == "9004"
    assert args[args.index("--placement-peers") + 1] == f"{PEERS}.default.svc.cluster.local:9004"
    assert "--ha-enable-leader-election" not in args and "--workers" not in args
    assert placement_rules(resources) == [
        {"from": [{"podSelector": {"matchLabels": labels}}], "ports": [{"port": 9004, "protocol": "UDP"}]}
    ]
    # The InferencePool's Service is untouched: ext_proc and metrics, TCP.
    assert [p["protocol"] for p in named(resources, SERVICE, PICKER).get("spec.ports")] == ["TCP", "TCP"]


@pytest.mark.parametrize(
    "picker",
    [
        {"replicas": 1, "profile": "precise"},
        {"replicas": 2, "profile": "recommended"},
        {"replicas": 2, "profile": "precise", "haMode": "leader-election"},
    ],
    ids=["one-replica", "approximate-leader", "precise-leader"],
)
def test_pickers_that_do_not_all_serve_share_nothing(pulumi_mocks: Any, picker: dict[str, Any]) -> None:
    resources = with_picker(pulumi_mocks, picker)
    assert not [r for r in of_type(resources, SERVICE) if r.get("metadata.name") == PEERS]
    picker_container = container(named(resources, DEPLOYMENT, PICKER), "picker")
    assert [p["containerPort"] for p in picker_container["ports"]] == [9002, 9003, 9090]
    assert "--placement-port" not in picker_container["args"]
    assert "--placement-peers" not in picker_container["args"]
    assert placement_rules(resources) == []
