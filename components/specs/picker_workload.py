"""The endpoint picker of one pool (this project's EPP): flags, RBAC rules, pod and Service ports.

Pure builders of typed pulumi-kubernetes Args; InferenceService creates the resources.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.config.services import PoolSpec
from components.crds.api_versions import INFERENCE_OBJECTIVE, INFERENCE_POOL

PICKER_GRPC_PORT = 9002
PICKER_HEALTH_PORT = 9003
PICKER_METRICS_PORT = 9090
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

core = k8s.core.v1
READ = ["get", "list", "watch"]


def picker_name(pool: PoolSpec) -> str:
    """Name of the picker's Deployment, Service, ServiceAccount, Role and ConfigMap."""
    return f"{pool.name}-epp"


def picker_labels(pool: PoolSpec) -> dict[str, str]:
    return {"inferencepool": picker_name(pool)}


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
    if pool.picker.replicas > 1:
        args.append("--ha-enable-leader-election")
    if pool.scheduling_policy != "fcfs":
        # The servers order by priority: the picker writes each objective's priority into the body.
        args += ["--model-server-scheduling-policy", pool.scheduling_policy]
    return args


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
    if pool.picker.replicas > 1:
        rules.append(
            k8s.rbac.v1.PolicyRuleArgs(
                api_groups=["coordination.k8s.io"],
                resources=["leases"],
                verbs=[*READ, "create", "update", "patch"],
            )
        )
    return rules


def _picker_container(pool: PoolSpec, namespace: str, image: pulumi.Input[str]) -> core.ContainerArgs:
    return core.ContainerArgs(
        name="picker",
        image=image,
        image_pull_policy="IfNotPresent",
        args=picker_args(pool, namespace),
        env=[
            core.EnvVarArgs(
                name=variable,
                value_from=core.EnvVarSourceArgs(field_ref=core.ObjectFieldSelectorArgs(field_path=field)),
            )
            # POD_NAME: the holder identity in the leader-election Lease.
            for variable, field in (("NAMESPACE", "metadata.namespace"), ("POD_NAME", "metadata.name"))
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
            core.VolumeMountArgs(name="metrics-token", mount_path=PICKER_METRICS_TOKEN_DIR, read_only=True),
        ],
    )


def picker_pod_spec(
    pool: PoolSpec, namespace: str, image: pulumi.Input[str], metrics_token_secret: str
) -> core.PodSpecArgs:
    """The picker pod: its ServiceAccount, the config file from the ConfigMap, a scratch /tmp, and the
    metrics-reader token (``metrics_token_secret``, the Secret PodMonitoring sends) that /metrics accepts."""
    name = picker_name(pool)
    return core.PodSpecArgs(
        service_account_name=name,
        containers=[_picker_container(pool, namespace, image)],
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
