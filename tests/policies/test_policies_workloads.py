"""Workload rules: pinned images, GPU quantities, the HF token, model-server shutdown and probes, picker hardening."""

from __future__ import annotations

from typing import Any

import pytest
from planned_stack import POOL, inputs_of, multi_cluster_stack, mutate, single_cluster_stack
from policy_harness import UNKNOWN_STRING, run_resource_rule, run_stack_rule, validation_args

from policies import resource_types as types
from policies import workloads

VLLM = f"gke-west-{POOL}"
PICKER = f"gke-west-{POOL}-epp"


@pytest.fixture
def vllm() -> dict[str, Any]:
    return inputs_of(multi_cluster_stack(), VLLM)


def _container(deployment: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]["containers"][index]


# --- images-pinned ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "config", "expected"),
    [
        ("vllm/vllm-openai:v0.13.0", None, None),
        ("registry:5000/team/picker:1.2.3", None, None),
        ("vllm/vllm-openai@sha256:" + "a" * 64, {"requireDigest": True}, None),
        ("vllm/vllm-openai", None, "has no tag, so it resolves to :latest"),
        ("registry:5000/team/picker", None, "has no tag"),
        ("vllm/vllm-openai:latest", None, "moving tag 'latest'"),
        ("vllm/vllm-openai:v0.13.0", {"requireDigest": True}, "not pinned by digest"),
        ("vllm/vllm-openai@sha256:abc", None, "malformed digest"),
        ("vllm/vllm-openai:stable", {"mutableTags": ["stable"]}, "moving tag 'stable'"),
    ],
    ids=["tag", "registry-port", "digest", "no-tag", "registry-port-no-tag", "latest", "digest-required",
         "bad-digest", "configured-mutable-tag"],
)
def test_images_pinned(image, config, expected, vllm):
    _container(vllm)["image"] = image
    messages = run_resource_rule(workloads.images_pinned, types.DEPLOYMENT, vllm, config=config).messages
    if expected is None:
        assert messages == []
    else:
        assert len(messages) == 1
        assert messages[0].startswith("vllm: image")
        assert expected in messages[0]


def test_images_checked_in_init_containers_and_cronjobs(vllm):
    vllm["spec"]["template"]["spec"]["initContainers"] = [{"name": "lora-syncer", "image": "lora-syncer"}]
    assert "lora-syncer: image lora-syncer has no tag" in run_resource_rule(
        workloads.images_pinned, types.DEPLOYMENT, vllm).messages[0]
    cron = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "j", "image": "x:latest"}]}}}}}}
    assert len(run_resource_rule(workloads.images_pinned, types.CRON_JOB, cron).messages) == 1


def test_images_missing_and_unknown(vllm):
    assert run_resource_rule(workloads.images_pinned, types.DEPLOYMENT, {"metadata": {"name": "x"}}).messages == []
    _container(vllm)["image"] = UNKNOWN_STRING
    outcome = run_resource_rule(workloads.images_pinned, types.DEPLOYMENT, vllm)
    assert outcome.messages == []
    assert outcome.not_applicable


@pytest.mark.parametrize(
    ("image", "parts"),
    [("nginx", ("nginx", None, None)), ("r:5000/a/b:1", ("r:5000/a/b", "1", None)),
     ("a/b:1@sha256:ff", ("a/b", "1", "sha256:ff"))],
)
def test_split_image(image, parts):
    assert workloads.split_image(image) == parts


# --- gpu-requests-equal-limits ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"requests": {"nvidia.com/gpu": "2"}, "limits": {"nvidia.com/gpu": 2.0}}, None),
        ({"limits": {"nvidia.com/gpu": 1.0}}, None),
        ({"requests": {"cpu": "4"}}, None),
        ({"requests": {"nvidia.com/gpu": 1.0}, "limits": {"nvidia.com/gpu": 2.0}}, "requests 1 != limits 2"),
        ({"requests": {"nvidia.com/gpu": 1.0}}, "without a limit"),
    ],
    ids=["equal", "limit-only", "no-gpu", "differ", "request-only"],
)
def test_gpu_requests_equal_limits(resources, expected, vllm):
    _container(vllm)["resources"] = resources
    messages = run_resource_rule(workloads.gpu_requests_equal_limits, types.DEPLOYMENT, vllm).messages
    assert messages == [] if expected is None else expected in messages[0]


@pytest.mark.parametrize("resources", [{"requests": {"nvidia.com/gpu": 1.0}, "limits": {"nvidia.com/gpu": 2.0}},
                                       {"requests": {"nvidia.com/gpu": 1.0}}], ids=["differ", "request-only"])
def test_gpu_remediation(resources, vllm):
    _container(vllm)["resources"] = resources
    fixed = workloads.gpu_requests_equal_limits.to_policy().remediate(validation_args(types.DEPLOYMENT, vllm))
    assert run_resource_rule(workloads.gpu_requests_equal_limits, types.DEPLOYMENT, fixed).messages == []
    assert workloads.gpu_requests_equal_limits.to_policy().remediate(validation_args(types.DEPLOYMENT, fixed)) is None


# --- hf-token-from-secret --------------------------------------------------------------------------

TOKEN = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ([{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}], [], None),
        ([{"name": "HF_TOKEN", "value": TOKEN}], [], "env HF_TOKEN sets the Hugging Face token as a literal value"),
        ([{"name": "HUGGING_FACE_HUB_TOKEN", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}], [],
         "must come from valueFrom.secretKeyRef"),
        ([{"name": "EXTRA", "value": f"token={TOKEN}"}], [], "env EXTRA contains a Hugging Face token"),
        ([], ["--hf-token", TOKEN], "command-line argument contains a Hugging Face token"),
        ([{"name": "MODEL", "value": "meta-llama/Llama-3.1-8B-Instruct"}], [], None),
    ],
    ids=["secret-ref", "literal", "configmap-ref", "token-in-other-env", "token-in-args", "unrelated-env"],
)
def test_hf_token(env, args, expected, vllm):
    _container(vllm).update(env=env, args=args)
    messages = run_resource_rule(workloads.hf_token_from_secret, types.DEPLOYMENT, vllm).messages
    assert messages == [] if expected is None else (len(messages) == 1 and expected in messages[0])


def test_hf_token_in_config_map_and_custom_env_names(vllm):
    config_map = {"data": {"token": TOKEN, "model": "llama"}}
    assert "ConfigMap key token" in run_resource_rule(workloads.hf_token_from_secret, types.CONFIG_MAP,
                                                      config_map).messages[0]
    _container(vllm)["env"] = [{"name": "MY_HF", "value": "plain"}]
    assert run_resource_rule(workloads.hf_token_from_secret, types.DEPLOYMENT, vllm).messages == []
    assert len(run_resource_rule(workloads.hf_token_from_secret, types.DEPLOYMENT, vllm,
                                 config={"tokenEnvNames": ["MY_HF"]}).messages) == 1


def test_hf_token_missing_env_is_fine():
    assert run_resource_rule(workloads.hf_token_from_secret, types.DEPLOYMENT,
                             {"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}).messages == []


# --- model-server-graceful-shutdown / probes ---------------------------------------------------------


@pytest.mark.parametrize("builder", [multi_cluster_stack, single_cluster_stack], ids=["multi", "single"])
@pytest.mark.parametrize("rule", [workloads.model_server_graceful_shutdown, workloads.model_server_probes,
                                  workloads.picker_pod_hardened], ids=lambda r: r.name)
def test_compliant_stacks_pass(rule, builder):
    assert run_stack_rule(rule, builder()).messages == []


def _pod_spec(inputs: dict[str, Any]) -> dict[str, Any]:
    return inputs["spec"]["template"]["spec"]


@pytest.mark.parametrize(
    ("change", "config", "expected"),
    [
        (lambda p: p.__setitem__("terminationGracePeriodSeconds", 45.0), None,
         "terminationGracePeriodSeconds 45 < preStop 30 s + drain 30 s"),
        (lambda p: p.pop("terminationGracePeriodSeconds"), None, "terminationGracePeriodSeconds 30 (default)"),
        (lambda p: p["containers"][0].pop("lifecycle"), None, "has no preStop hook"),
        (lambda p: p["containers"][0].__setitem__("lifecycle", {"preStop": {"exec": {
            "command": ["/bin/sh", "-c", "sleep 120"]}}}), None, "preStop 120 s"),
        (lambda p: None, {"drainSec": 120}, "set it to at least 150"),
    ],
    ids=["short-grace", "default-grace", "no-prestop", "exec-sleep", "config-drain"],
)
def test_graceful_shutdown_violations(change, config, expected):
    stack = mutate(multi_cluster_stack(), VLLM, lambda inputs: change(_pod_spec(inputs)))
    outcome = run_stack_rule(workloads.model_server_graceful_shutdown, stack, config=config)
    assert len(outcome.messages) == (2 if config else 1)  # a config override applies to both clusters
    assert expected in outcome.messages[0]
    assert outcome.messages[0].startswith("vllm: ")


@pytest.mark.parametrize(("probe", "config", "expected"), [
    ("readinessProbe", None, "has no readinessProbe"),
    ("livenessProbe", None, "has no livenessProbe"),
    ("startupProbe", None, "has no startupProbe"),
    ("startupProbe", {"requireStartupProbe": False}, None),
])
def test_probe_violations(probe, config, expected):
    stack = mutate(multi_cluster_stack(), VLLM, lambda inputs: _pod_spec(inputs)["containers"][0].pop(probe))
    messages = run_stack_rule(workloads.model_server_probes, stack, config=config).messages
    assert messages == [] if expected is None else (len(messages) == 1 and expected in messages[0])


def test_model_servers_fall_back_to_gpu_workloads_without_pools():
    stack = [r for r in multi_cluster_stack() if not types.is_inference_pool(r.resource_type)]
    stack = mutate(stack, VLLM, lambda inputs: _pod_spec(inputs)["containers"][0].pop("readinessProbe"))
    assert len(run_stack_rule(workloads.model_server_probes, stack).messages) == 1


def test_sidecars_are_not_held_to_model_server_rules():
    sidecar = {"name": "lora-syncer", "image": "lora-syncer:v1", "restartPolicy": "Always"}
    stack = mutate(multi_cluster_stack(), VLLM, lambda inputs: _pod_spec(inputs).__setitem__("initContainers", [sidecar]))
    assert run_stack_rule(workloads.model_server_probes, stack).messages == []


def test_unknown_grace_period_is_skipped():
    stack = mutate(multi_cluster_stack(), VLLM,
                   lambda inputs: _pod_spec(inputs).__setitem__("terminationGracePeriodSeconds", UNKNOWN_STRING))
    assert run_stack_rule(workloads.model_server_graceful_shutdown, stack).messages == []


# --- picker-pod-hardened ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s.pop("securityContext"), "set securityContext.runAsNonRoot: true"),
        (lambda s: s["containers"][0]["securityContext"].pop("readOnlyRootFilesystem"),
         "set securityContext.readOnlyRootFilesystem: true"),
        (lambda s: s["containers"][0]["securityContext"].__setitem__("allowPrivilegeEscalation", True),
         "set securityContext.allowPrivilegeEscalation: false"),
        (lambda s: s["containers"][0]["securityContext"].__setitem__("runAsUser", 0.0),
         "set securityContext.runAsNonRoot: true"),
        (lambda s: s["containers"][0]["securityContext"].__setitem__("privileged", True), "must not run privileged"),
    ],
    ids=["root", "writable-rootfs", "escalation", "uid-0", "privileged"],
)
def test_picker_hardening_violations(change, expected):
    stack = mutate(multi_cluster_stack(), PICKER, lambda inputs: change(_pod_spec(inputs)))
    outcome = run_stack_rule(workloads.picker_pod_hardened, stack)
    assert len(outcome.messages) == 1
    assert outcome.messages[0].startswith(f"endpoint picker {PICKER}: picker: {expected}")


def test_picker_found_by_reference_even_with_unrelated_image():
    stack = mutate(multi_cluster_stack(), PICKER, lambda inputs: _pod_spec(inputs).update(
        securityContext=None, containers=[{"name": "router", "image": "example.com/router:1"}]))
    messages = run_stack_rule(workloads.picker_pod_hardened, stack).messages
    assert len(messages) == 3
    # Without the reference and with an unrelated image name nothing identifies the picker.
    assert run_stack_rule(workloads.picker_pod_hardened, stack, config={"imageNames": ["nomatch"]}).messages == \
        messages
    unreferenced = mutate(stack, f"gke-west-{POOL}-pool", lambda i: i["spec"].pop("endpointPickerRef"))
    assert run_stack_rule(workloads.picker_pod_hardened, unreferenced, config={"imageNames": ["nomatch"]}).messages == []
    assert len(run_stack_rule(workloads.picker_pod_hardened, unreferenced,
                              config={"imageNames": ["router"]}).messages) == 3
