"""Security posture of the rendered plan (the offline `infgw plan` of both stacks, with a canary HF token):
the token only as a Pulumi secret and a Secret reference, the picker's TLS and metrics auth, least-
privilege RBAC, NetworkPolicies, hardened pods and images. Plans are rendered once per module."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infgw.plan.manifests import manifests_by_cluster, write_manifests
from tests.conftest import _ensure_event_loop

CANARY_TOKEN = "hf_CanaryTokenThatMustNeverAppearInClear0001"
HF_TOKEN_KEY = "gke-inference-gateway:hfToken"
STACKS = ("dev", "single")
MUTATING_VERBS = {
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "escalate",
    "bind",
    "impersonate",
}


@dataclasses.dataclass(frozen=True)
class RenderedStack:
    stack: str
    plan: Any  # infgw.plan.model.Plan
    plan_json: str
    manifests: list[dict[str, Any]]
    manifest_text: str
    logs: str


class _CollectingHandler(logging.Handler):
    """Every log message the program emits while it is planned (Pulumi's log calls included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def rendered(
    _plan_recorder_session: Any, repo_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, RenderedStack]]:
    from components.config.sources import read_stack
    from infgw.plan.model import UNKNOWN
    from infgw.plan.runner import run_program

    stacks: dict[str, RenderedStack] = {}
    root_logger = logging.getLogger()
    for stack in STACKS:
        _ensure_event_loop()
        raw = read_stack(stack, repo_root)
        raw = dataclasses.replace(
            raw,
            values={**raw.values, HF_TOKEN_KEY: CANARY_TOKEN},
            secret_keys=raw.secret_keys | {HF_TOKEN_KEY},
        )
        handler = _CollectingHandler()
        root_logger.addHandler(handler)
        try:
            plan = run_program(_plan_recorder_session, raw, repo_root / "__main__.py")
        finally:
            root_logger.removeHandler(handler)
        out_dir = tmp_path_factory.mktemp(f"manifests-{stack}")
        written = write_manifests(out_dir, manifests_by_cluster(plan.resources), unknown_marker=UNKNOWN)
        paths = [path for cluster_paths in written.values() for path in cluster_paths]
        texts = [path.read_text() for path in sorted(out_dir.rglob("*")) if path.is_file()]
        stacks[stack] = RenderedStack(
            stack=stack,
            plan=plan,
            plan_json=json.dumps(plan.to_json(), default=str),
            manifests=[yaml.safe_load(path.read_text()) for path in paths],
            manifest_text="\n".join(texts),
            logs="\n".join(handler.messages),
        )
    _plan_recorder_session.clear()
    yield stacks


def _objects(rendered_stack: RenderedStack, kind: str) -> list[dict[str, Any]]:
    return [m for m in rendered_stack.manifests if m and m.get("kind") == kind]


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    pod = deployment["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def _picker_deployments(rendered_stack: RenderedStack) -> list[dict[str, Any]]:
    return [d for d in _objects(rendered_stack, "Deployment") if d["metadata"]["name"].endswith("-epp")]


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest, rendered: dict[str, RenderedStack]) -> RenderedStack:
    return rendered[request.param]


# ---- the HF token ----------------------------------------------------------------------------------


def test_hf_token_is_a_pulumi_secret_in_the_plan(stack: RenderedStack) -> None:
    secrets = [r for r in stack.plan.of_type("kubernetes:core/v1:Secret") if r.get("type") == "Opaque"]
    assert secrets, "the stack creates the HF token Secret"
    for secret in secrets:
        assert any(path.startswith("stringData") for path in secret.secret_paths), secret.secret_paths


def test_hf_token_never_appears_in_clear(stack: RenderedStack) -> None:
    assert CANARY_TOKEN not in stack.plan_json
    assert CANARY_TOKEN not in stack.manifest_text
    assert CANARY_TOKEN not in stack.logs


def test_model_servers_read_the_token_through_a_secret_reference(stack: RenderedStack) -> None:
    servers = [d for d in _objects(stack, "Deployment") if not d["metadata"]["name"].endswith("-epp")]
    assert servers
    for deployment in servers:
        for container in _containers(deployment):
            for env in container.get("env", []):
                if "TOKEN" in env["name"]:
                    assert "value" not in env, f"{env['name']} is set in clear"
                    assert env["valueFrom"]["secretKeyRef"]["name"], env


# ---- the picker: TLS, metrics auth ---------------------------------------------------------------


def test_picker_serves_tls_on_9002_by_default(stack: RenderedStack) -> None:
    for deployment in _picker_deployments(stack):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert "--secure-serving" in container["args"]
        assert not any(
            arg.startswith("--secure-serving=") and arg != "--secure-serving=true"
            for arg in container["args"]
        )
        assert {"name": "grpc", "containerPort": 9002, "protocol": "TCP"} in container["ports"]


def test_picker_metrics_are_scraped_with_a_bearer_token_of_a_read_only_identity(stack: RenderedStack) -> None:
    monitors = [m for m in _objects(stack, "PodMonitoring") if m["metadata"]["name"].endswith("-epp")]
    assert monitors
    for monitor in monitors:
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["authorization"]["credentials"]["secret"]["name"]
    readers = [r for r in _objects(stack, "ClusterRole") if r["metadata"]["name"].endswith("metrics-reader")]
    assert readers and all(
        r["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}] for r in readers
    )


def test_picker_requires_the_bearer_token_on_metrics(stack: RenderedStack) -> None:
    monitors = {m["metadata"]["name"]: m for m in _objects(stack, "PodMonitoring")}
    for deployment in _picker_deployments(stack):
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert any(arg.startswith("--metrics-auth-token-file") for arg in container["args"]), container[
            "args"
        ]
        args = container["args"]
        token_file = Path(args[args.index("--metrics-auth-token-file") + 1])
        # The file must hold the very token the collector sends: the PodMonitoring's Secret and key.
        (mount,) = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == token_file.parent]
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        (item,) = volume["secret"]["items"]
        assert item["path"] == token_file.name
        monitor = monitors.get(deployment["metadata"]["name"])
        if monitor is not None:
            for endpoint in monitor["spec"]["endpoints"]:
                sent = endpoint["authorization"]["credentials"]["secret"]
                assert (volume["secret"]["secretName"], item["key"]) == (sent["name"], sent["key"])


# ---- RBAC --------------------------------------------------------------------------------------------


def test_rbac_is_least_privilege(stack: RenderedStack) -> None:
    roles = _objects(stack, "Role") + _objects(stack, "ClusterRole")
    assert roles
    for role in roles:
        name = role["metadata"]["name"]
        for rule in role["rules"]:
            assert "*" not in rule.get("verbs", []), f"{name}: wildcard verb"
            assert "*" not in rule.get("resources", []), f"{name}: wildcard resource"
            assert "*" not in rule.get("apiGroups", []), f"{name}: wildcard API group"
            if "secrets" in rule.get("resources", []):
                assert rule.get("resourceNames"), f"{name}: reads every Secret"
            mutating = MUTATING_VERBS & set(rule.get("verbs", []))
            # The only writes allowed: Leases, for picker leader election.
            assert not mutating or rule.get("resources") == ["leases"], f"{name}: {sorted(mutating)}"
    for binding in _objects(stack, "ClusterRoleBinding") + _objects(stack, "RoleBinding"):
        assert binding["roleRef"]["name"] not in {"cluster-admin", "admin", "edit"}, binding["metadata"]


# ---- network ---------------------------------------------------------------------------------------


def test_every_pool_has_its_network_policies(stack: RenderedStack) -> None:
    policies = {p["metadata"]["name"]: p for p in _objects(stack, "NetworkPolicy")}
    for pool in _objects(stack, "InferencePool"):
        picker_policy = policies[f"{pool['metadata']['name']}-epp-ingress"]
        ports = {port["port"] for rule in picker_policy["spec"]["ingress"] for port in rule["ports"]}
        assert ports == {9002, 9003, 9090}
        assert f"{pool['metadata']['name']}-model-server-ingress" in policies


# ---- pods and images ------------------------------------------------------------------------------


def test_picker_pods_are_hardened(stack: RenderedStack) -> None:
    for deployment in _picker_deployments(stack):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] != 0
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}


@pytest.mark.parametrize("image", ["picker", "sim"])
def test_images_run_as_an_unprivileged_user(repo_root: Path, image: str) -> None:
    dockerfile = (repo_root / image / "Dockerfile").read_text()
    final_stage = dockerfile.rsplit("\nFROM ", 1)[-1]
    user = re.search(r"^USER\s+(\d+)(?::(\d+))?\s*$", final_stage, re.MULTILINE)
    assert user is not None, f"{image}/Dockerfile: the final stage sets no numeric USER"
    assert int(user.group(1)) != 0 and int(user.group(2) or 1) != 0
    entrypoint = re.search(r"^ENTRYPOINT .*$", final_stage, re.MULTILINE)
    assert entrypoint is not None and final_stage.index(user.group(0)) < final_stage.index(
        entrypoint.group(0)
    )


def test_model_server_pods_are_hardened(stack: RenderedStack) -> None:
    servers = [d for d in _objects(stack, "Deployment") if not d["metadata"]["name"].endswith("-epp")]
    for deployment in servers:
        for container in _containers(deployment):
            context = container.get("securityContext", {})
            assert context.get("allowPrivilegeEscalation") is False, container["name"]
            assert context.get("capabilities") == {"drop": ["ALL"]}, container["name"]
            assert context.get("seccompProfile") == {"type": "RuntimeDefault"}, container["name"]
