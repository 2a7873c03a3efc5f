"""The endpoint picker of one pool (this project's EPP): flags, RBAC rules, pod and Service ports.

Pure builders of typed pulumi-kubernetes Args; InferenceService creates the resources.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml
from picker.placements.peer_flags import placement_sharing_flags
from picker.plugins.kv_event_prefix_index import KV_EVENT_PLUGIN_TYPES

from components.config.services import PoolSpec
from components.crds.api_versions import INFERENCE_OBJECTIVE, INFERENCE_POOL
from components.specs.container_security import container_security_context
from components.specs.model_server import HF_TOKEN_KEY

PICKER_GRPC_PORT = 9002
PICKER_HEALTH_PORT = 9003
PICKER_METRICS_PORT = 9090
# UDP: active-active replicas share their placements here (--placement-port), reached only by picker pods.
PICKER_PLACEMENT_PORT = 9004
# Pods resolve Services under the cluster's DNS domain (GKE's is always cluster.local).
CLUSTER_DOMAIN = "cluster.local"
# gRPC health services the picker serves (as the EPP): liveness is SERVING from the start,
# readiness only once the pool is synced, so a slow sync never gets the pod killed.
PICKER_LIVENESS_SERVICE = "liveness"
PICKER_READINESS_SERVICE = "readiness"
PICKER_CONFIG_FILE = "config.yaml"
PICKER_USER_ID = 65532
# ext_proc streams live as long as the LLM response they carry: the model server's drain budget.
PICKER_TERMINATION_GRACE_S = 130
# The metrics-reader ServiceAccount token (the Secret PodMonitoring authenticates with) is mounted here,
# so the picker accepts exactly the bearer token Managed Prometheus' collector sends.
PICKER_METRICS_TOKEN_DIR = "/var/run/secrets/metrics-reader"
PICKER_METRICS_TOKEN_KEY = "token"
PICKER_METRICS_TOKEN_FILE = f"{PICKER_METRICS_TOKEN_DIR}/{PICKER_METRICS_TOKEN_KEY}"

# The picker's root filesystem is read-only: its one writable place is an emptyDir mounted here.
PICKER_SCRATCH_DIR = "/tmp"
# A precise picker with no tokenizer of its own downloads the served model's tokenizer files here, in its
# scratch emptyDir: once per pod start, a few MB.
PICKER_TOKENIZER_CACHE_DIR = f"{PICKER_SCRATCH_DIR}/tokenizers"

core = k8s.core.v1
READ = ["get", "list", "watch"]


def picker_name(pool: PoolSpec) -> str:
    """Name of the picker's Deployment, Service, ServiceAccount, Role and ConfigMap."""
    return f"{pool.name}-epp"


def picker_labels(pool: PoolSpec) -> dict[str, str]:
    return {"inferencepool": picker_name(pool)}


def picker_peers_name(pool: PoolSpec) -> str:
    """Name of the headless Service that lists every picker pod (active-active replicas' peers)."""
    return f"{picker_name(pool)}-peers"


def picker_placement_port(pool: PoolSpec) -> int | None:
    """The UDP port the picker's replicas share placements on; None when they do not (one replica, or one
    leader serving). Every part of the wiring (flags, container port, headless Service, NetworkPolicy) asks
    this."""
    return PICKER_PLACEMENT_PORT if pool.picker.active_active else None


def picker_placement_args(pool: PoolSpec, namespace: str) -> list[str]:
    """``--placement-port 9004 --placement-peers <pool>-epp-peers.<namespace>.svc.cluster.local:9004`` for
    active-active replicas (the picker resolves the headless Service's name to every pod's address, its own
    among them, which it ignores), else nothing."""
    port = picker_placement_port(pool)
    if port is None:
        return []
    return placement_sharing_flags(port, [(f"{picker_peers_name(pool)}.{namespace}.svc.{CLUSTER_DOMAIN}", port)])


def picker_args(pool: PoolSpec, namespace: str) -> list[str]:
    """EPP-compatible flags (`python -m picker --help`)."""
    args = [
        "--pool-name", pool.name,
        "--pool-namespace", namespace,
        "--pool-group", INFERENCE_POOL.group,
        "--config-file", f"/config/{PICKER_CONFIG_FILE}",
        "--grpc-port", str(PICKER_GRPC_PORT),
        "--grpc-health-port", str(PICKER_HEALTH_PORT),
        "--metrics-port", str(PICKER_METRICS_PORT),
        # The picker cannot do a TokenReview, so /metrics compares against this file (re-read per scrape,
        # so a rotated token needs no restart); without it /metrics would be open to the whole cluster.
        "--metrics-auth-token-file", PICKER_METRICS_TOKEN_FILE,
        "--secure-serving",
        "--v", str(pool.picker.log_verbosity),
    ]  # fmt: skip
    if pool.picker.elects_leader:
        args.append("--ha-enable-leader-election")
    if pool.picker.workers > 1:
        args += ["--workers", str(pool.picker.workers)]
    args += picker_placement_args(pool, namespace)
    if pool.scheduling_policy != "fcfs":
        # The servers order by priority: the picker writes each objective's priority into the body.
        args += ["--model-server-scheduling-policy", pool.scheduling_policy]
    return args


def picker_config_text(pool: PoolSpec) -> str:
    """The picker's --config-file. A config routing on KV events whose precise scorer names no tokenizer gets
    the served model's (``tokenizer.modelName`` = the pool's model, downloaded from the Hugging Face Hub at
    start with the pod's HF_TOKEN into ``PICKER_TOKENIZER_CACHE_DIR``): the blocks the picker hashes then
    match vLLM's. A ``tokenizer.path`` or ``modelName`` set in the config is kept (offline clusters)."""
    text = pool.picker.config_text
    if pool.picker.kv_events is None:
        return text
    document: dict[str, Any] = yaml.safe_load(text)
    changed = False
    for plugin in document.get("plugins") or []:
        if plugin.get("type") not in KV_EVENT_PLUGIN_TYPES:
            continue
        parameters = plugin.get("parameters") or {}
        tokenizer = parameters.get("tokenizer") or {}
        if "path" in tokenizer or "modelName" in tokenizer:
            continue
        tokenizer = {**tokenizer, "modelName": pool.model, "cacheDir": PICKER_TOKENIZER_CACHE_DIR}
        plugin["parameters"] = {**parameters, "tokenizer": tokenizer}
        changed = True
    return yaml.safe_dump(document, sort_keys=False) if changed else text


def picker_downloads_tokenizer(pool: PoolSpec) -> bool:
    """Whether the picker fetches a tokenizer from the Hub (it then needs the HF token)."""
    events = pool.picker.kv_events
    return events is not None and events.tokenizer.path is None


def picker_rbac_rules(pool: PoolSpec) -> list[k8s.rbac.v1.PolicyRuleArgs]:
    """Least privilege: read its pods, pool and objectives; Leases only when replicas elect a leader."""
    rules = [
        k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods"], verbs=READ),
        k8s.rbac.v1.PolicyRuleArgs(
            api_groups=[INFERENCE_POOL.group], resources=["inferencepools"], verbs=READ
        ),
        k8s.rbac.v1.PolicyRuleArgs(
            api_groups=[INFERENCE_OBJECTIVE.group], resources=["inferenceobjectives"], verbs=READ
        ),
    ]
    if pool.picker.elects_leader:
        rules.append(
            k8s.rbac.v1.PolicyRuleArgs(
                api_groups=["coordination.k8s.io"],
                resources=["leases"],
                verbs=[*READ, "create", "update", "patch"],
            )
        )
    return rules


def _picker_env(pool: PoolSpec, hf_token_secret: str) -> list[core.EnvVarArgs]:
    env = [
        core.EnvVarArgs(
            name=variable,
            value_from=core.EnvVarSourceArgs(field_ref=core.ObjectFieldSelectorArgs(field_path=field)),
        )
        # POD_NAME: the holder identity in the leader-election Lease.
        for variable, field in (("NAMESPACE", "metadata.namespace"), ("POD_NAME", "metadata.name"))
    ]
    if picker_downloads_tokenizer(pool):
        # The model servers' token (huggingface_hub reads HF_TOKEN): a gated model's tokenizer needs it.
        # Optional, as for public models the Secret may not exist.
        env.append(
            core.EnvVarArgs(
                name="HF_TOKEN",
                value_from=core.EnvVarSourceArgs(
                    secret_key_ref=core.SecretKeySelectorArgs(
                        name=hf_token_secret, key=HF_TOKEN_KEY, optional=True
                    )
                ),
            )
        )
    return env


def _picker_container(
    pool: PoolSpec, namespace: str, image: pulumi.Input[str], hf_token_secret: str
) -> core.ContainerArgs:
    return core.ContainerArgs(
        name="picker",
        image=image,
        image_pull_policy="IfNotPresent",
        args=picker_args(pool, namespace),
        env=_picker_env(pool, hf_token_secret),
        ports=[
            core.ContainerPortArgs(name="grpc", container_port=PICKER_GRPC_PORT, protocol="TCP"),
            core.ContainerPortArgs(name="grpc-health", container_port=PICKER_HEALTH_PORT, protocol="TCP"),
            core.ContainerPortArgs(name="metrics", container_port=PICKER_METRICS_PORT, protocol="TCP"),
            *_placement_container_ports(pool),
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
        resources=picker_resources(pool),
        security_context=container_security_context(PICKER_USER_ID),
        volume_mounts=[
            core.VolumeMountArgs(name="config", mount_path="/config", read_only=True),
            # Read-only root: the one writable place Python and the TLS self-signing may need.
            core.VolumeMountArgs(name="tmp", mount_path=PICKER_SCRATCH_DIR),
            core.VolumeMountArgs(name="metrics-token", mount_path=PICKER_METRICS_TOKEN_DIR, read_only=True),
        ],
    )


def _placement_container_ports(pool: PoolSpec) -> list[core.ContainerPortArgs]:
    port = picker_placement_port(pool)
    if port is None:
        return []
    return [core.ContainerPortArgs(name="placements", container_port=port, protocol="UDP")]


def picker_resources(pool: PoolSpec) -> core.ResourceRequirementsArgs:
    """One process needs half a core; workers one core each (a worker is one busy Python thread) and
    the memory of as many pickers, each with its own endpoint metrics and prefix index."""
    workers = pool.picker.workers
    if workers == 1:
        return core.ResourceRequirementsArgs(
            requests={"cpu": "500m", "memory": "512Mi"}, limits={"memory": "1Gi"}
        )
    return core.ResourceRequirementsArgs(
        requests={"cpu": str(workers), "memory": f"{512 * workers}Mi"},
        limits={"memory": f"{workers}Gi"},
    )


def picker_pod_spec(
    pool: PoolSpec,
    namespace: str,
    image: pulumi.Input[str],
    metrics_token_secret: str,
    hf_token_secret: str,
) -> core.PodSpecArgs:
    """The picker pod: its ServiceAccount, the config file from the ConfigMap, a scratch /tmp (also the
    downloaded tokenizer's cache), the metrics-reader token (``metrics_token_secret``, the Secret PodMonitoring
    sends) that /metrics accepts, and the HF token (``hf_token_secret``) when it downloads a tokenizer."""
    name = picker_name(pool)
    return core.PodSpecArgs(
        service_account_name=name,
        containers=[_picker_container(pool, namespace, image, hf_token_secret)],
        termination_grace_period_seconds=PICKER_TERMINATION_GRACE_S,
        volumes=[
            core.VolumeArgs(name="config", config_map=core.ConfigMapVolumeSourceArgs(name=name)),
            core.VolumeArgs(name="tmp", empty_dir=core.EmptyDirVolumeSourceArgs()),
            core.VolumeArgs(
                name="metrics-token",
                secret=core.SecretVolumeSourceArgs(
                    secret_name=metrics_token_secret,
                    # Only the token: the picker has no use for the Secret's ca.crt and namespace keys.
                    items=[core.KeyToPathArgs(key=PICKER_METRICS_TOKEN_KEY, path=PICKER_METRICS_TOKEN_KEY)],
                    # Default mode (0644): the pod sets no fsGroup, so a tighter mode would leave the root-owned
                    # file unreadable for the picker's non-root user.
                ),
            ),
        ],
    )


def picker_service_ports() -> list[core.ServicePortArgs]:
    """The InferencePool's endpointPickerRef points at the ext_proc port (HTTP/2, gRPC)."""
    return [
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
    ]


def picker_peers_service_spec(pool: PoolSpec) -> core.ServiceSpecArgs | None:
    """The headless Service whose DNS name resolves to every picker pod's address (the replicas' peers), for
    active-active replicas; None otherwise. Not-ready pods are listed too: a replica still syncing receives
    its peers' placements before it serves, and the name resolves from the first rollout on."""
    port = picker_placement_port(pool)
    if port is None:
        return None
    return core.ServiceSpecArgs(
        cluster_ip="None",
        selector=picker_labels(pool),
        publish_not_ready_addresses=True,
        ports=[core.ServicePortArgs(name="udp-placements", port=port, target_port="placements", protocol="UDP")],
    )
