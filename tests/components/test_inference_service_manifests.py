"""Rendered manifests: every object valid against upstream CRD / Kubernetes schemas; the --manifests output.

The acceptance of issue 3: the dev stack renders gke-west and gke-east, the single stack one cluster, and
every custom resource passes ../shared/crds (skipped when absent), every core object kubernetes-validate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config.services import ServicesConfig
from components.specs.picker_workload import PICKER_SCRATCH_DIR, PICKER_TOKENIZER_CACHE_DIR
from infgw.plan.manifests import (
    ClusterManifests,
    KubeObject,
    RecordedResource,
    cluster_manifests,
    manifests_by_cluster,
    write_manifests,
)
from tests.components.crd_schema_check import (
    CRD_DIR,
    is_core_api,
    load_crd_schemas,
    validate_core_object,
    validate_custom_resource,
)

GOLDEN = Path(__file__).parent / "golden" / "inference_service"
PICKER_IMAGE = "us-docker.pkg.dev/example-project/inference-gateway/picker:0.1.0"
# Kinds with no public CRD schema to check against: the project's pydantic models are their only check.
KINDS_WITHOUT_UPSTREAM_SCHEMA = {"AutoscalingMetric", "PodMonitoring"}

CASES = {
    "multi_config_cluster": (
        "services_multi",
        {"topology": "multi", "gateway_regions": ["europe-west3", "us-east4"]},
    ),
    "multi_target_cluster": ("services_multi", {"topology": "multi", "config_cluster": False}),
    "single_cluster": ("services_single", {}),
    "model_routing": ("services_routing", {}),
}


def rendered(pulumi_mocks: Any, case: str, picker: dict[str, Any] | None = None) -> ClusterManifests:
    """The case's cluster; ``picker`` replaces every pool's ``picker`` settings."""
    import pulumi_kubernetes as k8s

    from components.inference_service import InferenceService, InferenceServiceArgs

    config_name, overrides = CASES[case]
    document = yaml.safe_load((GOLDEN / f"{config_name}.yaml").read_text())
    if picker is not None:
        document["pools"] = [{**pool, "picker": picker} for pool in document["pools"]]
    config = ServicesConfig.model_validate(document)

    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig="unused-under-mocks")
        InferenceService(
            "c1-inference",
            InferenceServiceArgs(
                cluster_name="c1",
                services=config,
                provider=provider,
                picker_image=PICKER_IMAGE,
                hf_token="hf_example",
                model_armor_template="projects/example-project/locations/us-central1/templates/inference-gateway",
                model_armor_location="us-central1",
                **overrides,
            ),
        )

    (manifests,) = manifests_by_cluster(pulumi_mocks.record(program))
    return manifests


@pytest.fixture(scope="module")
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    if not CRD_DIR.is_dir():
        pytest.skip(f"upstream CRD schemas not found at {CRD_DIR}")
    return load_crd_schemas()


def check_objects(
    objects: tuple[KubeObject, ...], crd_schemas: dict[tuple[str, str], dict[str, Any]]
) -> set[str]:
    """Validate every object; return the kinds that had no schema to check against."""
    unchecked: set[str] = set()
    for obj in objects:
        body = dict(obj.body)
        if is_core_api(body["apiVersion"]):
            validate_core_object(body)
        elif (body["apiVersion"], body["kind"]) in crd_schemas:
            validate_custom_resource(body, crd_schemas)
        else:
            unchecked.add(obj.kind)
    return unchecked


@pytest.mark.parametrize("case", list(CASES))
def test_every_rendered_object_passes_its_schema(pulumi_mocks: Any, crd_schemas: Any, case: str) -> None:
    manifests = rendered(pulumi_mocks, case)
    assert len(manifests.objects) > 10
    unchecked = check_objects(manifests.applied, crd_schemas)
    # A new kind must come with a schema (or join this list knowingly), never skip validation silently.
    assert unchecked <= KINDS_WITHOUT_UPSTREAM_SCHEMA


def test_core_objects_pass_kubernetes_validate_without_the_crd_folder(pulumi_mocks: Any) -> None:
    # The part of the schema check that needs nothing outside the repository.
    core = [
        obj for obj in rendered(pulumi_mocks, "model_routing").applied if is_core_api(obj.body["apiVersion"])
    ]
    assert {obj.kind for obj in core} >= {
        "Deployment",
        "Service",
        "ConfigMap",
        "Role",
        "HorizontalPodAutoscaler",
    }
    for obj in core:
        validate_core_object(obj.body)


def test_validator_rejects_an_invalid_core_object(pulumi_mocks: Any) -> None:
    import jsonschema

    deployment = next(
        obj for obj in rendered(pulumi_mocks, "single_cluster").objects if obj.kind == "Deployment"
    )
    broken = yaml.safe_load(yaml.safe_dump(dict(deployment.body)))
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(jsonschema.ValidationError, match="'http' is not of type 'integer'"):
        validate_core_object(broken)
    unknown_field = yaml.safe_load(yaml.safe_dump(dict(deployment.body)))
    unknown_field["spec"]["template"]["spec"]["gpuCount"] = 1
    with pytest.raises(jsonschema.ValidationError, match="gpuCount"):
        validate_core_object(unknown_field)


@pytest.mark.parametrize(
    ("stack", "clusters"), [("dev", ["gke-east", "gke-west"]), ("single", ["gke-central"])]
)
def test_stacks_render_one_folder_per_cluster(
    pulumi_mocks: Any, repo_root: Path, tmp_path: Path, stack: str, clusters: list[str]
) -> None:
    from components.config.sources import read_stack
    from infgw.plan.model import UNKNOWN
    from infgw.plan.runner import run_program

    plan = run_program(pulumi_mocks, read_stack(stack, repo_root), repo_root / "__main__.py")
    manifests = manifests_by_cluster(plan.resources)
    assert [m.cluster for m in manifests] == clusters
    written = write_manifests(tmp_path, manifests, unknown_marker=UNKNOWN)
    gateway_clusters = [m.cluster for m in manifests if any(obj.kind == "Gateway" for obj in m.objects)]
    assert gateway_clusters == (["gke-west"] if stack == "dev" else ["gke-central"])
    for cluster in clusters:
        names = [path.name for path in written[cluster]]
        assert any(name.endswith("-inferencepool-" + name.split("-inferencepool-")[-1]) for name in names)
        for path in written[cluster]:
            assert UNKNOWN not in path.read_text(), f"{path.name} holds a value only known after apply"


def test_written_files_are_numbered_in_apply_order_and_parse_back(pulumi_mocks: Any, tmp_path: Path) -> None:
    manifests = rendered(pulumi_mocks, "single_cluster")
    paths = write_manifests(tmp_path, [manifests])["c1"]
    names = [path.name for path in paths]
    assert names == sorted(names)
    assert names[0].startswith("01-") and names[-1].startswith(f"{len(names):02d}-")
    kinds = [yaml.safe_load(path.read_text())["kind"] for path in paths]
    # Identities and config before the workloads that use them; custom resources after their targets.
    assert kinds.index("ServiceAccount") < kinds.index("Deployment") < kinds.index("InferencePool")
    assert kinds.index("InferencePool") < kinds.index("Gateway") < kinds.index("HTTPRoute")
    reparsed = [yaml.safe_load(path.read_text()) for path in paths]
    assert reparsed == [dict(obj.body) for obj in manifests.applied]


def test_secret_values_never_reach_disk(pulumi_mocks: Any, tmp_path: Path) -> None:
    manifests = rendered(pulumi_mocks, "single_cluster")
    assert any(obj.carries_secret_data for obj in manifests.objects)
    write_manifests(tmp_path, [manifests])
    everything = "\n".join(path.read_text() for path in (tmp_path / "c1").iterdir())
    assert "hf_example" not in everything and "[secret]" not in everything
    readme = (tmp_path / "c1" / "README.md").read_text()
    assert 'kubectl create secret generic hf-token -n default --from-literal=token="$HF_TOKEN"' in readme
    # The InferenceObjective CRD is one of the files (shipped with the program), not a URL to apply.
    assert "https://" not in readme


def test_rewriting_removes_stale_files(pulumi_mocks: Any, tmp_path: Path) -> None:
    stale = tmp_path / "c1" / "99-deployment-removed.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text("kind: Deployment\n")
    write_manifests(tmp_path, [rendered(pulumi_mocks, "single_cluster")])
    assert not stale.exists()


def test_single_cluster_manifests_match_golden(
    pulumi_mocks: Any, tmp_path: Path, regen_inventories: bool
) -> None:
    """The full kubectl-ready output for Google's single-cluster Inference Gateway tutorial, reviewed as files (regenerate with --regen-inventories)."""
    golden_dir = GOLDEN / "manifests_single_cluster"
    write_manifests(tmp_path, [rendered(pulumi_mocks, "single_cluster")])
    actual = {path.name: path.read_text() for path in sorted((tmp_path / "c1").iterdir())}
    if regen_inventories:
        if golden_dir.exists():
            for path in golden_dir.iterdir():
                path.unlink()
        golden_dir.mkdir(parents=True, exist_ok=True)
        for name, text in actual.items():
            (golden_dir / name).write_text(text)
        return
    expected = {path.name: path.read_text() for path in sorted(golden_dir.iterdir())}
    assert actual == expected, "manifests changed; if intended, rerun this test with --regen-inventories"


def test_unknown_values_are_listed_in_the_readme(tmp_path: Path) -> None:
    marker = "(known after apply)"
    deployment = RecordedResource(
        "kubernetes:apps/v1:Deployment",
        "picker",
        {
            "metadata": {"name": "picker"},
            "spec": {"template": {"spec": {"containers": [{"name": "p", "image": marker}]}}},
        },
    )
    write_manifests(tmp_path, [cluster_manifests("c1", [deployment])], unknown_marker=marker)
    readme = (tmp_path / "c1" / "README.md").read_text()
    assert "01-deployment-picker.yaml: spec.template.spec.containers[0].image" in readme


def test_objects_without_a_name_are_refused() -> None:
    unnamed = RecordedResource("kubernetes:core/v1:ConfigMap", "cm", {"metadata": {}, "data": {}})
    with pytest.raises(ValueError, match="explicit name"):
        cluster_manifests("c1", [unnamed])


def test_type_tokens_map_to_api_versions() -> None:
    objects = cluster_manifests(
        "c1",
        [
            RecordedResource("kubernetes:core/v1:ConfigMap", "a", {"metadata": {"name": "a"}}),
            RecordedResource(
                "kubernetes:rbac.authorization.k8s.io/v1:Role", "b", {"metadata": {"name": "b"}}
            ),
            RecordedResource(
                "kubernetes:yaml/v2:ConfigFile", "crd", {"file": "https://example.com/crd.yaml"}
            ),
            RecordedResource("gcp:container/cluster:Cluster", "gke", {"name": "gke"}),
        ],
    )
    assert [(o.body["apiVersion"], o.kind) for o in objects.objects] == [
        ("v1", "ConfigMap"),
        ("rbac.authorization.k8s.io/v1", "Role"),
    ]
    assert objects.remote_files == ("https://example.com/crd.yaml",)


def _picker_objects(manifests: ClusterManifests) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first pool's picker: its config file (parsed) and its container."""
    [config_map] = [o.body for o in manifests.objects if o.kind == "ConfigMap" and o.name.endswith("-epp")]
    [deployment] = [o.body for o in manifests.objects if o.kind == "Deployment" and o.name.endswith("-epp")]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return yaml.safe_load(config_map["data"]["config.yaml"]), container


def test_a_precise_picker_downloads_the_served_models_tokenizer_with_the_hf_token(pulumi_mocks: Any) -> None:
    config, container = _picker_objects(rendered(pulumi_mocks, "single_cluster", {"profile": "precise"}))
    [scorer] = [p for p in config["plugins"] if p["type"] == "precise-prefix-cache-scorer"]
    assert scorer["parameters"]["tokenizer"] == {"modelName": "meta-llama/Llama-3.1-8B-Instruct",
                                                 "cacheDir": PICKER_TOKENIZER_CACHE_DIR}
    [token] = [e for e in container["env"] if e["name"] == "HF_TOKEN"]
    assert token["valueFrom"]["secretKeyRef"] == {"name": "hf-token", "key": "token", "optional": True}
    # The cache lives in the pod's writable emptyDir (the root filesystem is read-only).
    assert {"name": "tmp", "mountPath": PICKER_SCRATCH_DIR} in container["volumeMounts"]
    assert PICKER_TOKENIZER_CACHE_DIR.startswith(PICKER_SCRATCH_DIR + "/")
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_a_tokenizer_path_in_the_config_is_kept_for_offline_clusters(pulumi_mocks: Any) -> None:
    from picker.profiles import profile_text

    document = yaml.safe_load(profile_text("precise"))
    for plugin in document["plugins"]:
        if plugin["type"] == "precise-prefix-cache-scorer":
            plugin["parameters"]["tokenizer"] = {"path": "/models/llama/tokenizer"}
    config, container = _picker_objects(rendered(pulumi_mocks, "single_cluster", {"config": document}))
    [scorer] = [p for p in config["plugins"] if p["type"] == "precise-prefix-cache-scorer"]
    assert scorer["parameters"]["tokenizer"] == {"path": "/models/llama/tokenizer"}
    assert "HF_TOKEN" not in {e["name"] for e in container["env"]}
    _, container = _picker_objects(rendered(pulumi_mocks, "single_cluster", {"profile": "recommended"}))
    assert "HF_TOKEN" not in {e["name"] for e in container["env"]}


def test_the_v0_10_producer_form_gets_the_tokenizer_and_the_servers_publish_on_its_ports(
    pulumi_mocks: Any,
) -> None:
    from picker.profiles import profile_text

    document = yaml.safe_load(profile_text("precise"))
    [scorer] = [p for p in document["plugins"] if p["type"] == "precise-prefix-cache-scorer"]
    index_keys = ("tokenProcessorConfig", "indexerConfig", "kvEventsConfig", "speculativeIndexing")
    scorer["type"] = "precise-prefix-cache-producer"
    scorer["parameters"] = {k: v for k, v in scorer["parameters"].items() if k in index_keys}
    document["plugins"].append(
        {"type": "prefix-cache-scorer",
         "parameters": {"prefixMatchInfoProducerName": "precise-prefix-cache-producer"}})
    for ref in document["schedulingProfiles"][0]["plugins"]:
        if ref["pluginRef"] == "precise-prefix-cache-scorer":
            ref["pluginRef"] = "prefix-cache-scorer"
    manifests = rendered(pulumi_mocks, "single_cluster", {"config": document})
    config, container = _picker_objects(manifests)
    [producer] = [p for p in config["plugins"] if p["type"] == "precise-prefix-cache-producer"]
    assert producer["parameters"]["tokenizer"]["modelName"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert "HF_TOKEN" in {e["name"] for e in container["env"]}
    servers = [o.body for o in manifests.objects if o.kind == "Deployment" and not o.name.endswith("-epp")]
    commands = [" ".join(c.get("command", []) + c.get("args", []))
                for s in servers for c in s["spec"]["template"]["spec"]["containers"]]
    assert any("--kv-events-config" in c and "tcp://*:5557" in c and "tcp://*:5558" in c for c in commands)
