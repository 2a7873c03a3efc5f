"""The deploy rehearsal: the shipped stacks pass it, and each defect that kept `pulumi up` from finishing
is refused when it is put back into a plan (the old InferencePool ordering, the default wait for a vLLM
Deployment, more GPU replicas than GPUs, a surge rollout on a full GPU pool, a picker config or flag the
picker refuses)."""

from __future__ import annotations

import copy
import dataclasses
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from components.config.sources import read_stack
from infgw.plan.model import Plan, PlannedResource
from infgw.plan.recorder import PlanRecorder
from infgw.plan.rehearsal import rehearse
from infgw.plan.rehearsal_report import ORDER_BEGIN, ORDER_END, deploy_order_markdown, print_rehearsal
from infgw.plan.runner import run_program

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
POOL = "kubernetes:inference.networking.k8s.io/v1:InferencePool"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
NODE_POOL = "gcp:container/nodePool:NodePool"


@pytest.fixture(scope="module")
def plans(_plan_recorder_session: PlanRecorder, repo_root: Path) -> dict[str, Plan]:
    result = {}
    for stack in ("dev", "single"):
        _plan_recorder_session.clear()
        result[stack] = run_program(_plan_recorder_session, read_stack(stack, repo_root), repo_root / "__main__.py")
    return result


def one(plan: Plan, type_token: str, name_part: str) -> PlannedResource:
    (found,) = [r for r in plan.of_type(type_token) if name_part in r.name]
    return found


def edited(plan: Plan, target: PlannedResource, change: Callable[[PlannedResource], PlannedResource]) -> Plan:
    return dataclasses.replace(
        plan, resources=tuple(change(r) if r.urn == target.urn else r for r in plan.resources)
    )


def with_inputs(resource: PlannedResource, edit: Callable[[dict[str, Any]], None]) -> PlannedResource:
    inputs = copy.deepcopy(resource.inputs)
    edit(inputs)
    return dataclasses.replace(resource, inputs=inputs)


@pytest.mark.parametrize("stack", ["dev", "single"])
def test_shipped_stacks_pass(plans: dict[str, Plan], stack: str) -> None:
    rehearsal = rehearse(plans[stack])
    assert rehearsal.findings == []
    kinds = {wait.resource.type for wait in rehearsal.waits}
    assert {DEPLOYMENT, SERVICE, "kubernetes:gateway.networking.k8s.io/v1:Gateway"} <= kinds


def test_picker_needs_its_pool_rbac_config_and_token_first(plans: dict[str, Plan]) -> None:
    rehearsal = rehearse(plans["single"])
    (picker,) = [w for w in rehearsal.waits if w.resource.name.endswith("-epp-deployment")]
    needed = {p.type.rsplit(":", 1)[-1] for p, _ in picker.prerequisites}
    assert needed == {"InferencePool", "RoleBinding", "ConfigMap", "Secret", "ServiceAccount"}


def test_old_pool_ordering_is_a_readiness_cycle(plans: dict[str, Plan]) -> None:
    """Before: the InferencePool depended on the picker's Service, which waits for the picker pods, which
    turn ready only after reading the InferencePool."""
    plan = plans["single"]
    service = one(plan, SERVICE, "-epp-service")
    pool = one(plan, POOL, "-inferencepool")
    old = edited(plan, pool, lambda r: dataclasses.replace(r, dependencies=(*r.dependencies, service.urn)))
    messages = [str(f) for f in rehearse(old).findings]
    assert any("readiness cycle" in m and pool.name in m for m in messages), messages


def test_vllm_deployment_on_the_default_wait_is_refused(plans: dict[str, Plan]) -> None:
    plan = plans["single"]
    vllm = one(plan, DEPLOYMENT, "instruct-deployment")
    without = edited(plan, vllm, lambda r: dataclasses.replace(r, custom_timeouts={}))
    messages = [str(f) for f in rehearse(without).findings]
    assert any("create waits at most 10 min (default)" in m and vllm.name in m for m in messages), messages


def test_more_gpu_replicas_than_gpus_is_refused(plans: dict[str, Plan]) -> None:
    """The guide's single cluster: 3 one-GPU replicas on one node with 2 GPUs."""
    plan = plans["single"]
    vllm = one(plan, DEPLOYMENT, "instruct-deployment")
    three = edited(plan, vllm, lambda r: with_inputs(r, lambda i: i["spec"].__setitem__("replicas", 3.0)))
    messages = [str(f) for f in rehearse(three).findings]
    assert any("1 of 3 replicas (1 GPU each) find no free GPU" in m for m in messages), messages


def test_surge_rollout_on_a_full_gpu_pool_is_refused(plans: dict[str, Plan]) -> None:
    plan = plans["single"]
    vllm = one(plan, DEPLOYMENT, "instruct-deployment")
    surging = edited(plan, vllm, lambda r: with_inputs(r, lambda i: i["spec"].pop("strategy")))
    messages = [str(f) for f in rehearse(surging).findings]
    assert any("surge pod" in m and "maxSurge 0" in m for m in messages), messages


def test_picker_config_the_picker_refuses_is_refused(plans: dict[str, Plan]) -> None:
    plan = plans["single"]
    config_map = one(plan, CONFIG_MAP, "-epp-config")
    broken = "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n- type: nope\n"
    bad = edited(plan, config_map, lambda r: with_inputs(r, lambda i: i["data"].__setitem__("config.yaml", broken)))
    messages = [str(f) for f in rehearse(bad).findings]
    assert any("would refuse its config" in m and "unknown plugin type 'nope'" in m for m in messages), messages


def test_picker_flag_the_picker_does_not_know_is_refused(plans: dict[str, Plan]) -> None:
    plan = plans["single"]
    picker = one(plan, DEPLOYMENT, "-epp-deployment")

    def add_flag(inputs: dict[str, Any]) -> None:
        inputs["spec"]["template"]["spec"]["containers"][0]["args"].append("--no-such-flag")

    messages = [str(f) for f in rehearse(edited(plan, picker, lambda r: with_inputs(r, add_flag))).findings]
    assert any("unrecognized arguments: --no-such-flag" in m for m in messages), messages


def test_gpu_supply_comes_from_the_cluster_node_pool(plans: dict[str, Plan]) -> None:
    plan = plans["single"]
    gpu_pool = one(plan, NODE_POOL, "-gpu")
    smaller = edited(plan, gpu_pool, lambda r: with_inputs(r, lambda i: i.__setitem__("nodeCount", 0.0)))
    messages = [str(f) for f in rehearse(smaller).findings]
    assert any("2 of 2 replicas" in m for m in messages), messages


def test_clusters_and_images_wait_for_the_project_apis(plans: dict[str, Plan]) -> None:
    """A component's depends_on reaches its children (the Python SDK does not do that by itself)."""
    from infgw.plan.rehearsal import _PlanIndex

    plan = plans["dev"]
    index = _PlanIndex(plan)
    api = one(plan, "gcp:projects/service:Service", "services-container").urn
    for resource in [*plan.of_type("gcp:container/cluster:Cluster"), one(plan, "docker-build:index:Image", "")]:
        assert api in index.ancestors(resource.urn), resource.name


def test_hand_made_secret_is_named_as_a_prerequisite(plans: dict[str, Plan]) -> None:
    assert any("Secret default/hf-token" in note for note in rehearse(plans["single"]).external)


def test_deploy_order_in_the_docs_is_current(plans: dict[str, Plan], repo_root: Path) -> None:
    text = (repo_root / "docs" / "deploying.md").read_text(encoding="utf-8")
    block = text.split(ORDER_BEGIN, 1)[1].split(ORDER_END, 1)[0]
    assert block.strip() == deploy_order_markdown(rehearse(plans["single"])).strip(), (
        "docs/deploying.md is stale; run: make plan STACK=single ARGS='--deploy-order docs/deploying.md'"
    )


def test_the_rehearsal_table_names_every_wait_in_full_on_80_columns(plans: dict[str, Plan]) -> None:
    """`make plan` in an 80-column terminal, or piped to a file: no name is cut to an ellipsis."""
    rehearsal = rehearse(plans["dev"])
    output = io.StringIO()
    print_rehearsal(rehearsal, Console(file=output, width=80, color_system=None))
    text = output.getvalue()
    assert "…" not in text
    # Each column's cell fragments, read down the table, spell the names out (column 1 is the cluster).
    awaited = "".join(line.split("│")[2].strip() for line in text.splitlines() if line.startswith("│"))
    assert "Gateway/cross-region-gateway" in awaited
    assert awaited.count("Deployment/vllm-llama3-8b-instruct-epp") == 2


@pytest.mark.parametrize("stack", ["dev", "single"])
def test_the_rehearsal_says_whose_wait_each_is_when_several_clusters_wait(plans: dict[str, Plan], stack: str) -> None:
    """Both regions of the dev stack build the same Deployments: each row names its cluster."""
    rehearsal = rehearse(plans[stack])
    rows = [(wait.cluster, wait.resource.type, wait.resource.get("metadata.name")) for wait in rehearsal.waits]
    output = io.StringIO()
    print_rehearsal(rehearsal, Console(file=output, width=200, color_system=None))
    header = next(line for line in output.getvalue().splitlines() if "awaited" in line)
    if stack == "dev":
        assert {row[0] for row in rows} == {"gke-west", "gke-east"}
        assert len(set(rows)) == len(rows)
        assert header.split("┃")[1].strip() == "cluster"
    else:
        assert {row[0] for row in rows} == {"gke-central"}
        assert "cluster" not in header


def test_a_port_the_model_server_does_not_listen_on_is_refused(plans: dict[str, Plan]) -> None:
    plan = plans["single"]
    pool = one(plan, POOL, "-inferencepool")
    moved = edited(plan, pool, lambda r: with_inputs(r, lambda i: i["spec"]["targetPorts"][0].__setitem__("number", 8080.0)))
    messages = [str(f) for f in rehearse(moved).findings]
    assert any("targetPort 8080 is no container port" in m for m in messages), messages


def test_gateway_that_does_not_wait_for_its_proxy_subnet_is_refused(plans: dict[str, Plan]) -> None:
    """Without the dependency `pulumi destroy` would also race the subnet against the Gateway."""
    plan = plans["single"]
    gateway = one(plan, "kubernetes:gateway.networking.k8s.io/v1:Gateway", "gateway")
    subnet = one(plan, "gcp:compute/subnetwork:Subnetwork", "proxy-only")
    detached = edited(
        plan, gateway, lambda r: dataclasses.replace(r, dependencies=tuple(d for d in r.dependencies if d != subnet.urn))
    )
    messages = [str(f) for f in rehearse(detached).findings]
    assert any("without depending on gke-central-proxy-only" in m for m in messages), messages


def test_the_gateway_address_and_the_test_request_are_stack_outputs(plans: dict[str, Plan]) -> None:
    outputs = plans["single"].outputs
    # Known once `pulumi up` waited for GKE to program the Gateway (pulumi.com/waitFor on its address).
    assert set(outputs["gateway_addresses"]) == set(outputs["test_requests"]) == {"gke-central"}
    gateway = one(plans["single"], "kubernetes:gateway.networking.k8s.io/v1:Gateway", "gateway")
    assert gateway.get("metadata.annotations")["pulumi.com/waitFor"] == "jsonpath={.status.addresses[0].value}"


def test_the_test_request_is_the_guides_request_against_the_address() -> None:
    from components.config.services import ServicesConfig
    from components.specs.sample_request import sample_curl

    services = ServicesConfig.model_validate(
        {"pools": [{"name": "p", "model": "base", "lora": {"adapters": [{"id": "food-review-1", "source": "a/b"}]}}]}
    )
    line = sample_curl("203.0.113.7", services)
    assert line.startswith("curl -i -X POST http://203.0.113.7/v1/completions ")
    assert '"model": "food-review-1"' in line and "What is the best pizza in the world?" in line


def test_a_vllm_flag_vllm_does_not_have_is_refused(plans: dict[str, Plan]) -> None:
    plan = plans["single"]
    vllm = one(plan, DEPLOYMENT, "instruct-deployment")

    def add_flag(inputs: dict[str, Any]) -> None:
        inputs["spec"]["template"]["spec"]["containers"][0]["args"][0] += " --no-such-vllm-flag"

    messages = [str(f) for f in rehearse(edited(plan, vllm, lambda r: with_inputs(r, add_flag))).findings]
    assert any("vLLM would refuse its command line" in m and "--no-such-vllm-flag" in m for m in messages), messages
