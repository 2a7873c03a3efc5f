"""The vLLM model-server pod of one pool (the Deployment of Google's single-cluster Inference Gateway tutorial), as typed pulumi-kubernetes Args.

Pure builders: no resources are created here; InferenceService wraps the pod spec in a Deployment.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import pulumi_kubernetes as k8s
from picker.plugins.kv_event_prefix_index import KVEventIndexParameters

from components.config.services import PoolSpec
from components.specs.container_security import container_security_context

HF_TOKEN_KEY = "token"
# The LoRA syncer reads its rollout file from this ConfigMap key (mounted as a directory, no subPath).
LORA_CONFIG_KEY = "configmap.yaml"

core = k8s.core.v1


def adapters_config_map_name(pool: PoolSpec) -> str:
    return f"{pool.name}-adapters"


VLLM_ENTRYPOINT = "vllm.entrypoints.openai.api_server"


def vllm_args(pool: PoolSpec) -> list[str]:
    """vLLM's flags for this pool: what `python -m sim` also accepts when the local gateway runs it."""
    args = [
        "--model", pool.model,
        "--tensor-parallel-size", str(pool.gpus_per_replica),
        "--port", str(pool.port),
        "--max-num-seqs", str(pool.max_num_seqs),
    ]  # fmt: skip
    if pool.scheduling_policy != "fcfs":
        args += ["--scheduling-policy", pool.scheduling_policy]
    if pool.max_model_len is not None:
        args += ["--max-model-len", str(pool.max_model_len)]
    if pool.lora is not None:
        args += [
            "--enable-lora",
            "--max-loras",
            str(pool.lora.max_loras),
            "--max-cpu-loras",
            str(pool.lora.max_cpu_loras),
            "--max-lora-rank",
            str(pool.lora.max_lora_rank),
        ]
    if (events := pool.picker.kv_events) is not None:
        args += ["--kv-events-config", json.dumps(kv_events_config(pool, events), separators=(",", ":"))]
    return [*args, *pool.extra_args]


def kv_event_ports(pool: PoolSpec) -> tuple[int, ...]:
    """The ports the pool's model servers publish KV-cache events on (with replay), for its picker."""
    events = pool.picker.kv_events
    if events is None:
        return ()
    discovery = events.kv_events_config.pod_discovery_config
    return tuple(port for port in (discovery.socket_port, discovery.replay_socket_port) if port)


def kv_events_config(pool: PoolSpec, events: KVEventIndexParameters) -> dict[str, Any]:
    """vLLM's --kv-events-config: a ZMQ publisher (and replay router) on the ports the picker dials."""
    discovery = events.kv_events_config.pod_discovery_config
    config: dict[str, Any] = {
        "enable_kv_cache_events": True,
        "publisher": "zmq",
        "endpoint": f"tcp://*:{discovery.socket_port}",
        "topic": f"kv@{pool.model}",
    }
    if discovery.replay_socket_port:
        config["replay_endpoint"] = f"tcp://*:{discovery.replay_socket_port}"
    return config


def vllm_command(pool: PoolSpec) -> str:
    """The container's shell line: NVIDIA paths GKE mounts, then exec vLLM's OpenAI server."""
    args = vllm_args(pool)
    # exec: SIGTERM must reach vLLM itself, or the preStop/grace-period drain logic never applies.
    return (
        "PATH=$PATH:/usr/local/nvidia/bin "
        "LD_LIBRARY_PATH=$LD_LIBRARY_PATH:/usr/local/nvidia/lib:/usr/local/nvidia/lib64 "
        f"exec python3 -m {VLLM_ENTRYPOINT} {shlex.join(args)}"
    )


def lora_rollout_config(pool: PoolSpec) -> dict[str, Any]:
    """The syncer's `vLLMLoRAConfig`: adapters it keeps loaded on the local vLLM."""
    assert pool.lora is not None
    return {
        "vLLMLoRAConfig": {
            "name": pool.name,
            "port": pool.port,
            "defaultBaseModel": pool.model,
            "ensureExist": {"models": [{"id": a.id, "source": a.source} for a in pool.lora.adapters]},
        }
    }


def _vllm_container(pool: PoolSpec, health_path: str, hf_token_secret: str) -> core.ContainerArgs:
    http_probe = core.HTTPGetActionArgs(path=health_path, port="http", scheme="HTTP")
    env = [
        core.EnvVarArgs(name="PORT", value=str(pool.port)),
        core.EnvVarArgs(
            name="HUGGING_FACE_HUB_TOKEN",
            value_from=core.EnvVarSourceArgs(
                secret_key_ref=core.SecretKeySelectorArgs(name=hf_token_secret, key=HF_TOKEN_KEY)
            ),
        ),
    ]
    mounts = [
        core.VolumeMountArgs(name="data", mount_path="/data"),
        core.VolumeMountArgs(name="shm", mount_path="/dev/shm"),
    ]
    if pool.lora is not None:
        env.append(core.EnvVarArgs(name="VLLM_ALLOW_RUNTIME_LORA_UPDATING", value="true"))
        mounts.append(core.VolumeMountArgs(name="adapters", mount_path="/adapters"))
    gpus = {"nvidia.com/gpu": str(pool.gpus_per_replica)}
    return core.ContainerArgs(
        name="vllm",
        image=pool.image,
        image_pull_policy="IfNotPresent",
        command=["sh", "-c"],
        args=[vllm_command(pool)],
        env=env,
        ports=[
            core.ContainerPortArgs(container_port=pool.port, name="http", protocol="TCP"),
            *(
                core.ContainerPortArgs(container_port=port, name=name, protocol="TCP")
                for port, name in zip(kv_event_ports(pool), ("kv-events", "kv-events-replay"), strict=False)
            ),
        ],
        lifecycle=core.LifecycleArgs(
            pre_stop=core.LifecycleHandlerArgs(sleep=core.SleepActionArgs(seconds=pool.drain.pre_stop_s))
        ),
        # vLLM's /health is trivial, so any failure matters; liveness waits for 5 to avoid a model reload.
        liveness_probe=core.ProbeArgs(
            http_get=http_probe, period_seconds=1, success_threshold=1, failure_threshold=5, timeout_seconds=1
        ),
        readiness_probe=core.ProbeArgs(
            http_get=http_probe, period_seconds=1, success_threshold=1, failure_threshold=1, timeout_seconds=1
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
        security_context=container_security_context(),
    )


def _lora_syncer(pool: PoolSpec) -> core.ContainerArgs:
    assert pool.lora is not None
    # Native sidecar (an init container that keeps running): starts before vLLM, stops after it.
    return core.ContainerArgs(
        name="lora-adapter-syncer",
        image=pool.lora.syncer_image,
        image_pull_policy="IfNotPresent",
        restart_policy="Always",
        env=[core.EnvVarArgs(name="DYNAMIC_LORA_ROLLOUT_CONFIG", value=f"/config/{LORA_CONFIG_KEY}")],
        volume_mounts=[core.VolumeMountArgs(name="config-volume", mount_path="/config")],
        # It only reads its ConfigMap and calls vLLM's HTTP API on localhost.
        security_context=container_security_context(),
    )


def model_server_pod_spec(pool: PoolSpec, health_path: str, hf_token_secret: str) -> core.PodSpecArgs:
    """Pod of one replica: vLLM on the pool's accelerator, plus the LoRA syncer when adapters are served."""
    volumes = [
        core.VolumeArgs(name="data", empty_dir=core.EmptyDirVolumeSourceArgs()),
        core.VolumeArgs(name="shm", empty_dir=core.EmptyDirVolumeSourceArgs(medium="Memory")),
    ]
    if pool.lora is not None:
        volumes += [
            core.VolumeArgs(name="adapters", empty_dir=core.EmptyDirVolumeSourceArgs()),
            core.VolumeArgs(
                name="config-volume",
                config_map=core.ConfigMapVolumeSourceArgs(name=adapters_config_map_name(pool)),
            ),
        ]
    return core.PodSpecArgs(
        containers=[_vllm_container(pool, health_path, hf_token_secret)],
        init_containers=[_lora_syncer(pool)] if pool.lora is not None else None,
        # A `vllm` Service would inject VLLM_PORT=tcp://... and crash vLLM's port parsing.
        enable_service_links=False,
        termination_grace_period_seconds=pool.drain.termination_grace_period_s,
        node_selector={"cloud.google.com/gke-accelerator": pool.accelerator},
        volumes=volumes,
    )
