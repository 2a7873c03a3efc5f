"""How one cluster's objects wire each InferencePool together, read from rendered Kubernetes objects.

InferencePool -> (selector) model-server Deployment -> the container serving `targetPorts[0]`, and
InferencePool -> (`endpointPickerRef`) picker Service -> (selector, targetPort) picker Deployment -> the
container serving that port; plus the pool's InferenceObjectives, the LoRA syncer's adapter list, the
HTTPRoutes that send model names to it and its GCPBackendPolicy timeout.

The deploy rehearsal reports every break in that chain (a port the server does not listen on, a Service
port that reaches no picker port, a flag that disagrees with the container port) and the local gateway
starts its processes from the same wiring, so what runs locally is what the stack deploys.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from picker.options import PickerOptions

VLLM_ENTRYPOINTS = ("vllm.entrypoints.openai.api_server",)
LORA_SYNCER_CONFIG_ENV = "DYNAMIC_LORA_ROLLOUT_CONFIG"
MODEL_NAME_HEADER = "X-Gateway-Model-Name"
PICKER_DEFAULT_GRPC_PORT: int = PickerOptions.model_fields["grpc_port"].default
POOL_KINDS = ("InferencePool", "GCPInferencePoolImport", "InferencePoolImport")

Body = Mapping[str, Any]


class WiringError(ValueError):
    """A pool whose objects do not line up; the message names the objects and the fix."""


@dataclass(frozen=True)
class Workload:
    """A Deployment and the container of it that a pool reaches."""

    deployment: Body
    container: Body

    @property
    def name(self) -> str:
        return str(self.deployment["metadata"]["name"])

    @property
    def replicas(self) -> int:
        value = self.deployment.get("spec", {}).get("replicas")
        return 1 if value is None else int(value)

    @property
    def pod_spec(self) -> Body:
        spec: Body = self.deployment["spec"]["template"]["spec"]
        return spec


@dataclass(frozen=True)
class PoolWiring:
    """Everything one InferencePool's serving path consists of, as rendered."""

    name: str
    namespace: str
    target_port: int
    failure_mode: str
    model_server: Workload
    server_args: tuple[str, ...]
    picker: Workload
    picker_args: tuple[str, ...]
    # File path in the picker container -> content, for each ConfigMap key mounted into it.
    picker_files: Mapping[str, str]
    # Mount paths of Secret volumes in the picker container (their content is issued by the cluster).
    picker_secret_dirs: tuple[str, ...]
    objectives: Mapping[str, int]
    adapters: tuple[tuple[str, str], ...]
    model_names: tuple[str, ...] = ()

    @property
    def model(self) -> str:
        return flag_value(self.server_args, "--model") or ""


@dataclass(frozen=True)
class ClusterWiring:
    pools: tuple[PoolWiring, ...]
    default_pool: str | None
    route_timeout_s: float | None
    warnings: tuple[str, ...] = field(default_factory=tuple)


def flag_value(args: Iterable[str], flag: str) -> str | None:
    """`--flag value` or `--flag=value` (the last one wins, as argparse does)."""
    found: str | None = None
    items = list(args)
    for index, arg in enumerate(items):
        if arg == flag and index + 1 < len(items):
            found = items[index + 1]
        elif arg.startswith(flag + "="):
            found = arg.split("=", 1)[1]
    return found


def vllm_server_args(container: Body) -> tuple[str, ...] | None:
    """The flags after vLLM's OpenAI server entrypoint, whether the container runs it directly or through
    `sh -c "... exec python3 -m vllm.entrypoints.openai.api_server ..."`."""
    words = [str(word) for word in [*(container.get("command") or []), *(container.get("args") or [])]]
    if words[:2] == ["sh", "-c"] and len(words) == 3:
        words = shlex.split(words[2])
    for entrypoint in VLLM_ENTRYPOINTS:
        if entrypoint in words:
            return tuple(words[words.index(entrypoint) + 1 :])
    if "vllm" in words and words[words.index("vllm") + 1 : words.index("vllm") + 2] == ["serve"]:
        rest = words[words.index("vllm") + 2 :]
        return ("--model", rest[0], *rest[1:]) if rest and not rest[0].startswith("-") else tuple(rest)
    return None


def _namespace(body: Body) -> str:
    return str(body.get("metadata", {}).get("namespace") or "default")


def _name(body: Body) -> str:
    return str(body.get("metadata", {}).get("name"))


def _of_kind(objects: Iterable[Body], kind: str, namespace: str | None = None) -> list[Body]:
    return [o for o in objects if o.get("kind") == kind and (namespace is None or _namespace(o) == namespace)]


def _matches(labels: Mapping[str, Any], selector: Mapping[str, Any]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def _selected(objects: list[Body], namespace: str, selector: Mapping[str, Any]) -> list[Body]:
    return [
        deployment
        for deployment in _of_kind(objects, "Deployment", namespace)
        if _matches(deployment["spec"]["template"].get("metadata", {}).get("labels") or {}, selector)
    ]


def _containers(deployment: Body) -> list[Body]:
    spec = deployment["spec"]["template"]["spec"]
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def _serving(deployment: Body, port: int | str) -> Body | None:
    """The container with `port` (a number, or a port name) among its ports."""
    for container in _containers(deployment):
        for item in container.get("ports") or []:
            if port in (item.get("name"), int(item.get("containerPort", -1))):
                return container
    return None


def _container_port(container: Body, port: int | str) -> int:
    for item in container.get("ports") or []:
        if port in (item.get("name"), int(item.get("containerPort", -1))):
            return int(item["containerPort"])
    raise KeyError(port)


def mounted_files(objects: list[Body], deployment: Body, container: Body) -> dict[str, str]:
    """Path -> text of every ConfigMap key mounted into `container` (directory mounts, as Kubernetes
    projects them: one file per key)."""
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"].get("volumes") or []}
    config_maps = {_name(o): o for o in _of_kind(objects, "ConfigMap", _namespace(deployment))}
    files: dict[str, str] = {}
    for mount in container.get("volumeMounts") or []:
        source = (volumes.get(mount["name"]) or {}).get("configMap")
        if source is None or source.get("name") not in config_maps:
            continue
        for key, text in (config_maps[source["name"]].get("data") or {}).items():
            files[f"{str(mount['mountPath']).rstrip('/')}/{key}"] = str(text)
    return files


def _secret_mounts(deployment: Body, container: Body) -> tuple[str, ...]:
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"].get("volumes") or []}
    return tuple(
        str(mount["mountPath"]).rstrip("/")
        for mount in container.get("volumeMounts") or []
        if "secret" in (volumes.get(mount["name"]) or {})
    )


def _syncer_adapters(objects: list[Body], deployment: Body) -> tuple[tuple[str, str], ...]:
    """The adapters the LoRA syncer sidecar keeps loaded: `ensureExist.models` of its rollout file."""
    for container in _containers(deployment):
        env = {e.get("name"): e.get("value") for e in container.get("env") or []}
        path = env.get(LORA_SYNCER_CONFIG_ENV)
        if not path:
            continue
        text = mounted_files(objects, deployment, container).get(str(path))
        if text is None:
            raise WiringError(
                f"Deployment {_name(deployment)}: the LoRA syncer reads {path}, which no mounted ConfigMap key "
                "provides; mount the adapters ConfigMap at its directory"
            )
        models = (yaml.safe_load(text) or {}).get("vLLMLoRAConfig", {}).get("ensureExist", {}).get("models") or []
        return tuple((str(model["id"]), str(model["source"])) for model in models)
    return ()


def _pool_wiring(objects: list[Body], pool: Body) -> PoolWiring:
    name, namespace = _name(pool), _namespace(pool)
    spec = pool["spec"]
    target_port = int(spec["targetPorts"][0]["number"])
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    servers = _selected(objects, namespace, selector)
    if not servers:
        raise WiringError(f"InferencePool {name}: no Deployment's pods carry its selector {dict(selector)}")
    server_container = _serving(servers[0], target_port)
    if server_container is None:
        raise WiringError(
            f"InferencePool {name}: targetPort {target_port} is no container port of Deployment "
            f"{_name(servers[0])}; make them equal"
        )
    server_args = vllm_server_args(server_container)
    if server_args is None:
        raise WiringError(f"Deployment {_name(servers[0])}: container {server_container.get('name')} runs no vLLM server")
    listen = flag_value(server_args, "--port") or "8000"
    if int(listen) != target_port:
        raise WiringError(
            f"Deployment {_name(servers[0])}: vLLM listens on --port {listen}, the InferencePool's targetPort "
            f"is {target_port}; make them equal"
        )

    reference = spec["endpointPickerRef"]
    services = [s for s in _of_kind(objects, "Service", namespace) if _name(s) == reference["name"]]
    if not services:
        raise WiringError(f"InferencePool {name}: endpointPickerRef names Service {reference['name']}, which is not rendered")
    ref_port = int((reference.get("port") or {}).get("number", PICKER_DEFAULT_GRPC_PORT))
    service_port = next((p for p in services[0]["spec"].get("ports") or [] if int(p["port"]) == ref_port), None)
    if service_port is None:
        raise WiringError(f"Service {reference['name']}: no port {ref_port}, which the InferencePool's endpointPickerRef names")
    pickers = _selected(objects, namespace, services[0]["spec"].get("selector") or {})
    target = service_port.get("targetPort", ref_port)
    target = int(target) if isinstance(target, float | int) else target
    picker_container = _serving(pickers[0], target) if pickers else None
    if picker_container is None:
        raise WiringError(
            f"Service {reference['name']}: port {ref_port} targets {target!r}, which no container of the "
            "Deployment it selects listens on"
        )
    picker_args = tuple(str(arg) for arg in picker_container.get("args") or [])
    grpc = int(flag_value(picker_args, "--grpc-port") or PICKER_DEFAULT_GRPC_PORT)
    if grpc != _container_port(picker_container, target):
        raise WiringError(
            f"Deployment {_name(pickers[0])}: the picker serves ext_proc on --grpc-port {grpc}, the Service "
            f"targets container port {_container_port(picker_container, target)}; make them equal"
        )
    objectives = {
        _name(o): int(o["spec"].get("priority") or 0)
        for o in _of_kind(objects, "InferenceObjective", namespace)
        if (o["spec"].get("poolRef") or {}).get("name") == name
    }
    return PoolWiring(
        name=name,
        namespace=namespace,
        target_port=target_port,
        failure_mode=str(reference.get("failureMode", "FailClose")),
        model_server=Workload(servers[0], server_container),
        server_args=server_args,
        picker=Workload(pickers[0], picker_container),
        picker_args=picker_args,
        picker_files=mounted_files(objects, pickers[0], picker_container),
        picker_secret_dirs=_secret_mounts(pickers[0], picker_container),
        objectives=objectives,
        adapters=_syncer_adapters(objects, servers[0]),
    )


def _routes(objects: list[Body], pools: list[PoolWiring]) -> tuple[dict[str, str], str | None, list[str]]:
    """Model name -> pool from the HTTPRoutes' header matches (the body-based router sets the header), the
    pool of a rule without one, and notes on what the local gateway does not reproduce."""
    by_model: dict[str, str] = {}
    default: str | None = None
    notes: list[str] = []
    for route in _of_kind(objects, "HTTPRoute"):
        for rule in route["spec"].get("rules") or []:
            backends = [b for b in rule.get("backendRefs") or [] if b.get("kind") in POOL_KINDS]
            if not backends:
                continue
            heaviest = str(max(backends, key=lambda b: float(b.get("weight", 1)))["name"])
            if len(backends) > 1:
                notes.append(
                    f"HTTPRoute {_name(route)} splits traffic over {', '.join(str(b['name']) for b in backends)}; "
                    f"locally all of it goes to the heaviest backend, {heaviest}"
                )
            if any(f.get("type") == "RequestMirror" for f in rule.get("filters") or []):
                notes.append(f"HTTPRoute {_name(route)} mirrors traffic; the local gateway does not")
            for match in rule.get("matches") or [{}]:
                path = (match.get("path") or {}).get("value", "/")
                if path != "/":
                    notes.append(f"HTTPRoute {_name(route)} matches path {path}; locally every path is routed by model")
                headers = [h for h in match.get("headers") or [] if h.get("name") == MODEL_NAME_HEADER]
                for header in headers:
                    by_model.setdefault(str(header["value"]), heaviest)
                if not headers and default is None:
                    default = heaviest
    # Every served name (base model and adapters) reaches its own pool even without an explicit route.
    for pool in pools:
        for model in (pool.model, *(adapter for adapter, _ in pool.adapters)):
            by_model.setdefault(model, pool.name)
    return by_model, default, list(dict.fromkeys(notes))


def cluster_wiring(objects: Iterable[Body]) -> ClusterWiring:
    """Every InferencePool of one cluster, wired; raises WiringError at the first break in a chain."""
    items = list(objects)
    pools = [_pool_wiring(items, pool) for pool in _of_kind(items, "InferencePool")]
    by_model, default, notes = _routes(items, pools)
    served = {pool.name: {pool.model, *(a for a, _ in pool.adapters)} for pool in pools}
    for model, pool_name in by_model.items():
        if pool_name in served and model not in served[pool_name]:
            raise WiringError(
                f"HTTPRoute sends model {model!r} to pool {pool_name!r}, which serves {sorted(served[pool_name])}; "
                f"add it as a LoRA adapter of {pool_name!r} or route it to the pool serving it"
            )
    pools = [
        PoolWiring(**{**pool.__dict__, "model_names": tuple(sorted(m for m, p in by_model.items() if p == pool.name))})
        for pool in pools
    ]
    timeouts = [
        float(policy["spec"]["default"]["timeoutSec"])
        for policy in _of_kind(items, "GCPBackendPolicy")
        if (policy["spec"].get("default") or {}).get("timeoutSec") is not None
    ]
    return ClusterWiring(tuple(pools), default, max(timeouts) if timeouts else None, tuple(notes))
