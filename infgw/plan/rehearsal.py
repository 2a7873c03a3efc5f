"""The deploy rehearsal: a plan checked against the waits `pulumi up` will perform (``await_model``).

For every awaited resource it derives what must exist before that resource can turn ready (its readiness
prerequisites, the table below), then fails the plan where a real `pulumi up` would not finish:

- a prerequisite that is created only after the wait (a readiness cycle: the wait can never end), or that
  nothing orders before it (the wait races its prerequisite);
- a budget (custom timeouts, else 10 minutes) shorter than the expected time to ready, for create and for
  a rolling update;
- GPU demand above a cluster's GPU supply, at rollout and during an update (surge pods need spare GPUs);
- a picker container the picker itself would refuse (flags, its ConfigMap's EndpointPickerConfig), and a
  vLLM command line vLLM would refuse (a flag it does not have);
- a pool whose objects do not wire up (ports, the picker Service, flags against container ports).

Readiness prerequisites (what Kubernetes and the components need before the pods or objects turn ready):

| awaited | needs before it can be ready |
|---|---|
| Deployment | its ServiceAccount; the ConfigMaps and Secrets its pods mount or read; GPUs for every replica |
| picker Deployment | also the InferencePool it serves (`--pool-name`) and the RoleBinding granting its account |
| Service | the Deployments whose pods it selects (it waits for their ready endpoints) |
| Gateway (waitFor) | the proxy-only subnets of its region(s) |
| CRD (waitFor Established) | nothing |
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from components.config.services import GpuSupply
from infgw.plan.await_model import (
    DEPLOYMENT,
    GATEWAY,
    SERVICE,
    Await,
    await_of,
    expected_create_s,
    expected_update_s,
    pod_template,
    replicas,
    rollout_step,
)
from infgw.plan.model import UNKNOWN, Plan, PlannedResource

K8S_PROVIDER = "pulumi:providers:kubernetes"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
INFERENCE_POOL = "kubernetes:inference.networking.k8s.io/v1:InferencePool"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
PROXY_PURPOSES = ("GLOBAL_MANAGED_PROXY", "REGIONAL_MANAGED_PROXY")
GPU_RESOURCE = "nvidia.com/gpu"
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
PICKER_MODULE = "picker"


@dataclass(frozen=True, slots=True)
class Finding:
    """A reason `pulumi up` would not finish: the resources involved and what to change."""

    resources: tuple[str, ...]
    message: str

    def __str__(self) -> str:
        return f"{', '.join(self.resources)}: {self.message}"


@dataclass(frozen=True, slots=True)
class Wait:
    """One awaited resource: its wait, what it needs first, and the expected times."""

    resource: PlannedResource
    wait: Await
    prerequisites: tuple[tuple[PlannedResource, str], ...]
    expected_create_s: float
    expected_update_s: float
    # The component (a Region, named after its GKE cluster) whose Kubernetes provider creates the object.
    cluster: str = ""


@dataclass
class Rehearsal:
    """Everything the rehearsal derived from one plan; ``findings`` empty means `pulumi up` can finish."""

    plan: Plan
    waits: list[Wait] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    # Objects the pods reference that the stack does not create (e.g. a Secret made by hand): they must
    # exist before `pulumi up`, or those pods never start.
    external: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


class _PlanIndex:
    """Lookups over one plan: by URN, dependencies (transitive), the cluster of a Kubernetes object."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.by_urn = {resource.urn: resource for resource in plan.resources}
        self._ancestors: dict[str, frozenset[str]] = {}

    def _direct(self, urn: str) -> list[str]:
        """Dependencies plus the resource's provider: the engine registers a provider (and so everything
        the provider depends on, e.g. a cluster's node pools) before any resource that uses it."""
        resource = self.by_urn.get(urn)
        if resource is None:
            return []
        provider = self.cluster_key(resource) if resource.provider else ""
        return [*resource.dependencies, *([provider] if provider in self.by_urn else [])]

    def ancestors(self, urn: str) -> frozenset[str]:
        """Every URN `urn` transitively depends on (created and, if awaited, ready before it)."""
        if urn in self._ancestors:
            return self._ancestors[urn]
        seen: set[str] = set()
        stack = list(self._direct(urn))
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            known = self._ancestors.get(current)
            if known is not None:
                seen |= known
                continue
            stack.extend(self._direct(current))
        self._ancestors[urn] = frozenset(seen)
        return self._ancestors[urn]

    @cached_property
    def region_component_of_provider(self) -> dict[str, str]:
        """Kubernetes provider URN -> the component that created it."""
        return {
            resource.urn: resource.parent_urn for resource in self.plan.resources if resource.type == K8S_PROVIDER
        }

    def cluster_key(self, resource: PlannedResource) -> str:
        """The URN of the provider a Kubernetes object is created with: one provider per cluster (the
        engine's provider reference is `<urn>::<id>`)."""
        return resource.provider.rsplit("::", 1)[0]

    def component_of(self, resource: PlannedResource) -> str:
        """The component (a Region) that created the object's cluster and provider."""
        return self.region_component_of_provider.get(self.cluster_key(resource), "")

    def children(self, parent_urn: str, type_token: str) -> list[PlannedResource]:
        return [r for r in self.plan.resources if r.parent_urn == parent_urn and r.type == type_token]

    def in_cluster(self, resource: PlannedResource, type_token: str) -> list[PlannedResource]:
        key = self.cluster_key(resource)
        return [r for r in self.plan.of_type(type_token) if self.cluster_key(r) == key]


def _namespace(resource: PlannedResource) -> str:
    return str(resource.get("metadata.namespace") or "default")


def _named(
    index: _PlanIndex, near: PlannedResource, type_token: str, name: str
) -> PlannedResource | None:
    return next(
        (
            candidate
            for candidate in index.in_cluster(near, type_token)
            if candidate.get("metadata.name") == name and _namespace(candidate) == _namespace(near)
        ),
        None,
    )


def _containers(resource: PlannedResource) -> list[dict[str, Any]]:
    spec = pod_template(resource).get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def picker_args(resource: PlannedResource) -> list[str] | None:
    """The args of a container running the endpoint picker (`python -m picker` image entrypoint)."""
    for container in _containers(resource):
        args = container.get("args") or []
        if "--pool-name" in args and container.get("name") == PICKER_MODULE:
            return [str(arg) for arg in args]
    return None


def _flag(args: list[str], flag: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def _pod_prerequisites(index: _PlanIndex, deployment: PlannedResource) -> Iterator[tuple[PlannedResource, str]]:
    spec = pod_template(deployment).get("spec") or {}
    account = spec.get("serviceAccountName")
    if account and (found := _named(index, deployment, SERVICE_ACCOUNT, account)):
        yield found, "its pods run as this ServiceAccount"
    for volume in spec.get("volumes") or []:
        if (config_map := (volume.get("configMap") or {}).get("name")) and (
            found := _named(index, deployment, CONFIG_MAP, config_map)
        ):
            yield found, f"its pods mount it (volume {volume.get('name')})"
        if (secret := (volume.get("secret") or {}).get("secretName")) and (
            found := _named(index, deployment, SECRET, secret)
        ):
            yield found, f"its pods mount it (volume {volume.get('name')})"
    for container in _containers(deployment):
        for variable in container.get("env") or []:
            reference = ((variable.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name")
            if reference and (found := _named(index, deployment, SECRET, reference)):
                yield found, f"container {container.get('name')} reads it ({variable.get('name')})"
    args = picker_args(deployment)
    if args is not None:
        pool = _flag(args, "--pool-name")
        if pool and (found := _named(index, deployment, INFERENCE_POOL, pool)):
            yield found, "the picker reports ready only once it has read the InferencePool it serves"
        for binding in index.in_cluster(deployment, ROLE_BINDING):
            subjects = binding.get("subjects") or []
            if any(s.get("kind") == "ServiceAccount" and s.get("name") == account for s in subjects):
                yield binding, "the picker needs its RBAC to read its pool, pods and objectives"


def _external_references(index: _PlanIndex, deployment: PlannedResource) -> Iterator[str]:
    spec = pod_template(deployment).get("spec") or {}
    wanted: list[tuple[str, str]] = []
    for volume in spec.get("volumes") or []:
        if name := (volume.get("configMap") or {}).get("name"):
            wanted.append((CONFIG_MAP, name))
        if name := (volume.get("secret") or {}).get("secretName"):
            wanted.append((SECRET, name))
    for container in _containers(deployment):
        for variable in container.get("env") or []:
            if name := ((variable.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name"):
                wanted.append((SECRET, name))
    for type_token, name in dict.fromkeys(wanted):
        if _named(index, deployment, type_token, name) is None:
            kind = type_token.rsplit(":", 1)[-1]
            yield f"{kind} {_namespace(deployment)}/{name} (used by {deployment.name}) is not created by the stack"


def _selected_deployments(index: _PlanIndex, service: PlannedResource) -> Iterator[PlannedResource]:
    selector = (service.get("spec") or {}).get("selector") or {}
    for deployment in index.in_cluster(service, DEPLOYMENT):
        labels = (pod_template(deployment).get("metadata") or {}).get("labels") or {}
        if _namespace(deployment) == _namespace(service) and all(labels.get(k) == v for k, v in selector.items()):
            yield deployment


def _gateway_prerequisites(index: _PlanIndex, gateway: PlannedResource) -> Iterator[tuple[PlannedResource, str]]:
    addresses = (gateway.get("spec") or {}).get("addresses") or []
    regions = {str(address.get("value")) for address in addresses}
    if not regions:  # a single-cluster gateway: the proxy-only subnet of the cluster's own region
        component = index.component_of(gateway)
        regions = {str(cluster.get("location")) for cluster in index.children(component, CLUSTER)}
    for subnet in index.plan.of_type(SUBNETWORK):
        if subnet.get("purpose") in PROXY_PURPOSES and subnet.get("region") in regions:
            yield subnet, f"the gateway's proxies in {subnet.get('region')} run in this proxy-only subnet"


def prerequisites(index: _PlanIndex, resource: PlannedResource) -> list[tuple[PlannedResource, str]]:
    if resource.type == DEPLOYMENT:
        return list(_pod_prerequisites(index, resource))
    if resource.type == SERVICE:
        return [(d, "the Service waits for ready endpoints of these pods") for d in _selected_deployments(index, resource)]
    if resource.type == GATEWAY:
        return list(_gateway_prerequisites(index, resource))
    return []


# ------------------------------------------------------------------------------------------------ GPUs
def gpu_supply(index: _PlanIndex, deployment: PlannedResource) -> GpuSupply | None:
    """The cluster's GPU node pool (type, per node, nodes), from the plan's NodePool resources."""
    component = index.component_of(deployment)
    for node_pool in index.children(component, NODE_POOL):
        accelerators = node_pool.get("nodeConfig.guestAccelerators") or []
        if accelerators:
            count = node_pool.get("nodeCount")
            return GpuSupply(
                str(accelerators[0].get("type")),
                int(accelerators[0].get("count", 0)),
                int(count) if count not in (None, UNKNOWN) else 0,
            )
    return None


def gpus_per_pod(deployment: PlannedResource) -> int:
    total = 0
    for container in _containers(deployment):
        requests = (container.get("resources") or {}).get("limits") or {}
        value = requests.get(GPU_RESOURCE)
        total += int(float(value)) if value is not None and value != UNKNOWN else 0
    return total


def _gpu_findings(index: _PlanIndex, waits: Iterable[Wait]) -> Iterator[Finding]:
    by_cluster: dict[str, list[PlannedResource]] = {}
    for wait in waits:
        if wait.resource.type == DEPLOYMENT and gpus_per_pod(wait.resource) > 0:
            by_cluster.setdefault(index.cluster_key(wait.resource), []).append(wait.resource)
    for deployments in by_cluster.values():
        supply = gpu_supply(index, deployments[0])
        names = tuple(d.name for d in deployments)
        if supply is None:
            yield Finding(names, "asks for GPUs, but its cluster has no GPU node pool in the plan: its pods "
                          "would stay Pending and `pulumi up` would wait until the timeout")
            continue
        free = [supply.per_node] * supply.nodes
        for deployment in sorted(deployments, key=gpus_per_pod, reverse=True):
            gpus = gpus_per_pod(deployment)
            selector = (pod_template(deployment).get("spec") or {}).get("nodeSelector") or {}
            wanted = selector.get(ACCELERATOR_LABEL)
            if wanted is not None and wanted != supply.accelerator:
                yield Finding((deployment.name,), f"selects {wanted} nodes, the cluster's GPU pool has "
                              f"{supply.accelerator}: no pod can schedule; set the pool's accelerator")
                continue
            unplaced = 0
            for _ in range(replicas(deployment)):
                node = next((i for i, left in enumerate(free) if left >= gpus), None)
                if node is None:
                    unplaced += 1
                else:
                    free[node] -= gpus
            if unplaced:
                yield Finding((deployment.name,), f"{unplaced} of {replicas(deployment)} replicas ({gpus} GPU "
                              f"each) find no free GPU ({supply.nodes} nodes x {supply.per_node} "
                              f"{supply.accelerator}, shared with {', '.join(n for n in names if n != deployment.name) or 'nothing else'}): "
                              "they stay Pending and `pulumi up` waits until the timeout; lower the replicas "
                              "or add GPU nodes")
        spare = free
        for deployment in deployments:
            surge, _ = rollout_step(deployment)
            gpus = gpus_per_pod(deployment)
            placeable = sum(left // gpus for left in spare) if gpus else surge
            if surge > placeable:
                yield Finding((deployment.name,), f"a rolling update starts {surge} surge pod(s) of {gpus} GPU "
                              f"but only {placeable} fit in the spare GPUs: every update would wait until the "
                              "timeout; set strategy.rollingUpdate.maxSurge 0 and maxUnavailable >= 1")


# --------------------------------------------------------------------------------------------- the run
def _picker_findings(deployment: PlannedResource, index: _PlanIndex) -> Iterator[Finding]:
    """The picker container's own start-up checks, run on its planned args and mounted config."""
    args = picker_args(deployment)
    if args is None:
        return
    from picker.preflight import ConfigError, OptionsError, check_command_line, check_config_text

    try:
        check_command_line(args)
    except OptionsError as error:
        yield Finding((deployment.name,), f"the picker would refuse its args and exit 2: {error}")
    config_path = _flag(args, "--config-file")
    if config_path is None:
        return
    directory, _, key = config_path.rpartition("/")
    spec = pod_template(deployment).get("spec") or {}
    mounts = {
        m.get("mountPath"): m.get("name") for c in _containers(deployment) for m in c.get("volumeMounts") or []
    }
    volume = next((v for v in spec.get("volumes") or [] if v.get("name") == mounts.get(directory)), None)
    config_map = _named(index, deployment, CONFIG_MAP, ((volume or {}).get("configMap") or {}).get("name", ""))
    text = ((config_map.get("data") if config_map else None) or {}).get(key)
    if text is None:
        yield Finding((deployment.name,), f"--config-file {config_path} is mounted from no ConfigMap key in the "
                      "plan: the picker would exit 2 at start")
        return
    try:
        check_config_text(str(text), f"ConfigMap {config_map.get('metadata.name') if config_map else '?'}")
    except ConfigError as error:
        yield Finding((deployment.name,), f"the picker would refuse its config and exit 2: {error}")


def rehearse(plan: Plan) -> Rehearsal:
    """Check `plan` against every wait `pulumi up` performs; see the module docstring."""
    index = _PlanIndex(plan)
    result = Rehearsal(plan)
    for resource in plan.resources:
        wait = await_of(resource)
        if wait is None:
            continue
        needs = tuple(prerequisites(index, resource))
        own_create, own_update = expected_create_s(resource), expected_update_s(resource)
        # A Service created alongside its pods waits for them too.
        ancestors = index.ancestors(resource.urn)
        waits_on_pods = max(
            (expected_create_s(p) for p, _ in needs if p.type == DEPLOYMENT and p.urn not in ancestors),
            default=0.0,
        )
        cluster = index.component_of(resource).rsplit("::", 1)[-1] if resource.provider else ""
        result.waits.append(Wait(resource, wait, needs, own_create + waits_on_pods, own_update, cluster))
    for item in result.waits:
        resource = item.resource
        ancestors = index.ancestors(resource.urn)
        for prerequisite, why in item.prerequisites:
            if resource.urn in index.ancestors(prerequisite.urn):
                result.findings.append(Finding(
                    (resource.name, prerequisite.name),
                    f"readiness cycle: `pulumi up` waits for {resource.name} to turn ready, which needs "
                    f"{prerequisite.name} ({why}), but {prerequisite.name} is created only after that wait; "
                    f"the wait can never end. Make {prerequisite.name} not depend on {resource.name}.",
                ))
            elif prerequisite.urn not in ancestors:
                result.findings.append(Finding(
                    (resource.name, prerequisite.name),
                    f"{resource.name} is awaited without depending on {prerequisite.name} ({why}); add it to "
                    "depends_on so it exists before the wait starts",
                ))
        for operation, budget, expected in (
            ("create", item.wait.create_budget_s, item.expected_create_s),
            ("update", item.wait.update_budget_s, item.expected_update_s),
        ):
            if budget < expected:
                result.findings.append(Finding(
                    (resource.name,),
                    f"{operation} waits at most {budget / 60:.0f} min ({item.wait.budget_source}) but becoming "
                    f"ready is expected to take up to {expected / 60:.1f} min ({item.wait.condition}); set "
                    f"custom_timeouts {operation} to at least {int(expected // 60) + 1}m",
                ))
        if resource.type == DEPLOYMENT:
            result.findings.extend(_picker_findings(resource, index))
            result.external.extend(_external_references(index, resource))
    result.findings.extend(_gpu_findings(index, result.waits))
    result.findings.extend(_wiring_findings(plan))
    return result


def _wiring_findings(plan: Plan) -> Iterator[Finding]:
    """Each cluster's pools must wire up (ports, Services, flags): the local gateway runs the same wiring."""
    from sim.vllm_command_line import CommandLineError, VllmCommandLine

    from infgw.plan.manifests import manifests_by_cluster
    from infgw.plan.pool_wiring import WiringError, cluster_wiring

    vllm = VllmCommandLine({})  # vLLM's own flags only: what the server would accept at start
    for cluster in manifests_by_cluster(plan.resources):
        try:
            wiring = cluster_wiring(obj.body for obj in cluster.objects)
        except WiringError as error:
            yield Finding((cluster.cluster,), str(error))
            continue
        for pool in wiring.pools:
            try:
                vllm.translate(list(pool.server_args))
            except CommandLineError as error:
                yield Finding(
                    (cluster.cluster, pool.model_server.name),
                    f"vLLM would refuse its command line and exit at start: {error}; fix pools[].extraArgs",
                )


def deploy_order(rehearsal: Rehearsal) -> list[list[PlannedResource]]:
    """Custom resources in waves: each wave needs only earlier ones (what `pulumi up` can run in parallel)."""
    plan = rehearsal.plan
    index = _PlanIndex(plan)
    custom = [r for r in plan.resources if r.custom and not r.type.startswith("pulumi:providers:")]
    urns = {r.urn for r in custom}
    level: dict[str, int] = {}

    def depth(resource: PlannedResource) -> int:
        if resource.urn not in level:
            level[resource.urn] = 0
            parents = [index.by_urn[u] for u in index.ancestors(resource.urn) if u in urns and u in index.by_urn]
            level[resource.urn] = 1 + max((depth(p) for p in parents), default=-1)
        return level[resource.urn]

    waves: dict[int, list[PlannedResource]] = {}
    for resource in custom:
        waves.setdefault(depth(resource), []).append(resource)
    return [sorted(waves[key], key=lambda r: (r.type, r.name)) for key in sorted(waves)]
