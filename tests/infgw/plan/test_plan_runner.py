"""The whole program (__main__.py) planned for the committed dev and single stacks, under the shared mocks."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from rich.console import Console

from components.config.sources import RawStackConfig, read_stack
from infgw.plan.inventory import InventoryCheck
from infgw.plan.model import Plan
from infgw.plan.recorder import PlanRecorder
from infgw.plan.render import render_plan
from infgw.plan.runner import run_program

INVENTORIES = Path(__file__).parent / "inventories"


def plan_stack(
    pulumi_mocks: PlanRecorder, repo_root: Path, stack: str, raw: RawStackConfig | None = None
) -> Plan:
    return run_program(pulumi_mocks, raw or read_stack(stack, repo_root), repo_root / "__main__.py")


@pytest.fixture(scope="module")
def dev_plan(_plan_recorder_session: PlanRecorder, repo_root: Path) -> Plan:
    """Planned once per module: a Plan is immutable, and each whole-program run costs about a second."""
    _plan_recorder_session.clear()
    return plan_stack(_plan_recorder_session, repo_root, "dev")


@pytest.fixture(scope="module")
def single_plan(_plan_recorder_session: PlanRecorder, repo_root: Path) -> Plan:
    _plan_recorder_session.clear()
    return plan_stack(_plan_recorder_session, repo_root, "single")


def gcp_layer(plan: Plan) -> list:
    """This layer's resources (GCP and the Kubernetes providers); the Kubernetes objects have their own tests."""
    return [
        r
        for r in plan.resources
        if r.type.startswith(("gcp:", "pulumi:providers:", "infgw:index:Region", "infgw:index:Fleet"))
    ]


@pytest.mark.parametrize("stack", ["dev", "single"])
def test_gcp_layer_inventory(
    request: pytest.FixtureRequest, golden_inventory: InventoryCheck, stack: str
) -> None:
    plan = request.getfixturevalue(f"{stack}_plan")
    golden_inventory(gcp_layer(plan), INVENTORIES / f"{stack}.yaml")


def test_dev_plan_is_seed_000(dev_plan: Plan) -> None:
    plan = dev_plan
    clusters = plan.of_type("gcp:container/cluster:Cluster")
    assert sorted((c.get("name"), c.get("location")) for c in clusters) == [
        ("gke-east", "us-east4"),
        ("gke-west", "europe-west3"),
    ]

    gpu_pools = [
        p for p in plan.of_type("gcp:container/nodePool:NodePool") if p.get("nodeConfig.guestAccelerators")
    ]
    assert len(gpu_pools) == 2
    for pool in gpu_pools:
        assert pool.get("nodeConfig.machineType") == "a3-highgpu-2g"
        assert pool.get("nodeConfig.spot") is True
        assert pool.get("nodeCount") == 3
        (accelerator,) = pool.get("nodeConfig.guestAccelerators")
        assert (accelerator["type"], accelerator["count"]) == ("nvidia-h100-80gb", 2)
        assert accelerator["gpuDriverInstallationConfig"]["gpuDriverVersion"] == "LATEST"

    subnets = plan.of_type("gcp:compute/subnetwork:Subnetwork")
    assert sorted((s.get("region"), s.get("ipCidrRange"), s.get("purpose")) for s in subnets) == [
        ("europe-west3", "10.0.0.0/23", "GLOBAL_MANAGED_PROXY"),
        ("us-east4", "10.5.0.0/23", "GLOBAL_MANAGED_PROXY"),
    ]

    memberships = plan.of_type("gcp:gkehub/membership:Membership")
    assert sorted((m.get("membershipId"), m.get("location")) for m in memberships) == [
        ("gke-east", "global"),
        ("gke-west", "global"),
    ]
    (ingress,) = [
        f for f in plan.of_type("gcp:gkehub/feature:Feature") if f.get("name") == "multiclusteringress"
    ]
    assert ingress.get("spec.multiclusteringress.configMembership") == (
        "projects/my-inference-project/locations/global/memberships/gke-west"
    )
    assert len(plan.of_type("gcp:projects/service:Service")) == 14


def test_single_plan_is_seed_002(single_plan: Plan) -> None:
    plan = single_plan
    (cluster,) = plan.of_type("gcp:container/cluster:Cluster")
    assert cluster.get("location") == "us-central1"
    (subnet,) = plan.of_type("gcp:compute/subnetwork:Subnetwork")
    assert (subnet.get("region"), subnet.get("purpose")) == ("us-central1", "REGIONAL_MANAGED_PROXY")
    assert plan.of_type("gcp:gkehub/membership:Membership") == []
    assert plan.of_type("gcp:gkehub/feature:Feature") == []
    assert plan.outputs["topology"] == "single-cluster"


def test_outputs_name_contexts_and_next_commands(dev_plan: Plan) -> None:
    outputs = dev_plan.outputs
    assert outputs["kube_contexts"] == {
        "gke-west": "gke_my-inference-project_europe-west3_gke-west",
        "gke-east": "gke_my-inference-project_us-east4_gke-east",
    }
    assert outputs["kubeconfigs"] == "[secret]"
    assert (
        "gcloud container clusters get-credentials gke-west --location europe-west3 --project my-inference-project"
        in outputs["next_steps"]
    )


def test_bad_config_stops_the_program_before_any_resource(
    pulumi_mocks: PlanRecorder, repo_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = read_stack("dev", repo_root)
    values = dict(good.values)
    values["gke-inference-gateway:fleet"] = {"configCluster": "gke-north"}
    raw = RawStackConfig(project=good.project, values=values, source="test")
    with pytest.raises(SystemExit) as exited:
        plan_stack(pulumi_mocks, repo_root, "dev", raw)
    assert exited.value.code == 2
    assert pulumi_mocks.planned == []
    assert capsys.readouterr().err.splitlines() == [
        "fleet.configCluster: 'gke-north' is not among the regions; use one of gke-west, gke-east"
    ]


def single_stack_with_picker(repo_root: Path, picker: dict[str, object]) -> RawStackConfig:
    good = read_stack("single", repo_root)
    services = copy.deepcopy(dict(good.values["gke-inference-gateway:services"]))
    services["pools"][0]["picker"] = picker
    return RawStackConfig(
        project=good.project, values={**good.values, "gke-inference-gateway:services": services}, source="test"
    )


def test_active_active_pickers_plan_their_peers_and_pass_the_policy_pack(
    pulumi_mocks: PlanRecorder, repo_root: Path
) -> None:
    from infgw.plan.model import UNKNOWN
    from infgw.plan.policy_check import load_policy_config
    from policies.offline import planned_from_records, run_pack

    plan = plan_stack(pulumi_mocks, repo_root, "single", single_stack_with_picker(repo_root, {"replicas": 2, "profile": "precise"}))
    (peers,) = [r for r in plan.of_type("kubernetes:core/v1:Service") if r.get("metadata.name").endswith("-epp-peers")]
    assert peers.get("spec.clusterIP") == "None"
    report = run_pack(planned_from_records(plan.resources, unknown_marker=UNKNOWN), load_policy_config(None, None))
    assert report.passed and not report.violations, report.violations


def test_workers_with_active_active_pickers_stop_the_plan_before_any_resource(
    pulumi_mocks: PlanRecorder, repo_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = single_stack_with_picker(repo_root, {"replicas": 2, "profile": "precise", "workers": 2})
    with pytest.raises(SystemExit) as exited:
        plan_stack(pulumi_mocks, repo_root, "single", raw)
    assert exited.value.code == 2
    assert pulumi_mocks.planned == []
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("services.pools[0].picker.workers: workers 2 with replicas 2 serving active-active")


def test_secret_config_never_reaches_the_plan(pulumi_mocks: PlanRecorder, repo_root: Path) -> None:
    good = read_stack("dev", repo_root)
    token_key = "gke-inference-gateway:hfToken"
    raw = RawStackConfig(
        project=good.project,
        values={**good.values, token_key: "hf_do_not_print_me"},
        secret_keys=good.secret_keys | {token_key},
        source="test",
    )
    plan = plan_stack(pulumi_mocks, repo_root, "dev", raw)
    assert "hf_do_not_print_me" not in json.dumps(plan.to_json())


def test_plan_json_is_structured_for_other_tools(dev_plan: Plan) -> None:
    document = json.loads(json.dumps(dev_plan.to_json()))
    cluster = next(r for r in document["resources"] if r["type"] == "gcp:container/cluster:Cluster")
    assert set(cluster) >= {
        "type",
        "name",
        "urn",
        "parent",
        "inputs",
        "dependencies",
        "secretPaths",
        "unknownPaths",
    }
    assert cluster["parent"].endswith("infgw:index:Region::" + cluster["inputs"]["name"])
    assert document["counts"]["gcp:container/cluster:Cluster"] == 2


def test_render_groups_by_component_and_counts(dev_plan: Plan) -> None:
    console = Console(record=True, width=240, color_system=None)
    render_plan(dev_plan, console)
    text = console.export_text()
    assert "gke-west infgw:index:Region" in text
    assert "gke-west-proxy-only gcp:compute/subnetwork:Subnetwork" in text
    assert "purpose=GLOBAL_MANAGED_PROXY" in text
    assert "accelerators=[2 x nvidia-h100-80gb (driver LATEST)]" in text
    assert "nodeLocations=[europe-west3-c]" in text
    assert "gcp:container/cluster:Cluster" in text and "total" in text
    assert "(known after apply)" in text


def test_secure_stack_values_are_planned_as_secrets(
    pulumi_mocks: PlanRecorder, repo_root: Path, tmp_path: Path
) -> None:
    """A `secure:` value in the stack file is never decrypted: the plan carries it as a secret."""
    import shutil

    import yaml

    shutil.copy(repo_root / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    stack = yaml.safe_load((repo_root / "Pulumi.dev.yaml").read_text(encoding="utf-8"))
    stack["config"]["gke-inference-gateway:hfToken"] = {"secure": "v1:c2VjcmV0LWNpcGhlcnRleHQ="}
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack), encoding="utf-8")

    plan = run_program(pulumi_mocks, read_stack("dev", tmp_path), repo_root / "__main__.py")
    document = json.dumps(plan.to_json())
    assert "c2VjcmV0LWNpcGhlcnRleHQ=" not in document
    secret_holders = [r for r in plan.resources if r.type == "kubernetes:core/v1:Secret" and r.secret_paths]
    assert secret_holders, "the HF token should reach the clusters only as a secret input"
