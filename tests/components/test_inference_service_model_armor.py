"""Model Armor: the GCP template (ModelArmorGuard) and the GCPTrafficExtension on the gateway."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config.services import ModelArmorSpec
from components.model_armor import template_name
from components.specs.model_armor_extension import model_armor_extension_spec, model_armor_settings

TEMPLATE = template_name("example-project", "us-central1", "inference-gateway")


def test_settings_name_one_entry_per_model_or_default() -> None:
    assert json.loads(model_armor_settings(TEMPLATE, [])) == [
        {"model": "default", "user_prompt_template_id": TEMPLATE, "model_response_template_id": TEMPLATE}
    ]
    assert [entry["model"] for entry in json.loads(model_armor_settings(TEMPLATE, ["a", "b"]))] == ["a", "b"]


def test_extension_calls_the_regional_model_armor_api_on_every_event() -> None:
    wire = model_armor_extension_spec(
        "inference-gateway", "us-central1", TEMPLATE, ModelArmorSpec()
    ).to_wire()
    assert wire["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "inference-gateway"}
    ]
    (extension,) = wire["extensionChains"][0]["extensions"]
    assert extension["googleAPIServiceName"] == "modelarmor.us-central1.rep.googleapis.com"
    assert "backendRef" not in extension and "authority" not in extension
    assert extension["failOpen"] is False and extension["timeout"] == "1000ms"
    assert len(extension["supportedEvents"]) == 6
    assert json.loads(extension["metadata"]["model_armor_settings"])[0]["model"] == "default"


def test_too_many_models_for_one_metadata_value_fail_before_deploy() -> None:
    from pydantic import ValidationError

    spec = ModelArmorSpec(models=[f"org/model-{index}" for index in range(10)])
    with pytest.raises(ValidationError, match=r"GKE allows 1\.\.1023"):
        model_armor_extension_spec("gw", "us-central1", TEMPLATE, spec)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timeoutMs": 5}, "greater than or equal to 10"),
        ({"confidenceLevel": "SOMETIMES"}, "MEDIUM_AND_ABOVE"),
        ({"projectNumber": "my-project"}, "pattern"),
    ],
)
def test_invalid_model_armor_config(fields: dict[str, Any], message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        ModelArmorSpec.model_validate(fields)


def guard(pulumi_mocks: Any, **fields: Any) -> list[Any]:
    from components.model_armor import ModelArmorGuard, ModelArmorGuardArgs

    spec = ModelArmorSpec.model_validate(fields)
    return pulumi_mocks.record(
        lambda: ModelArmorGuard(
            "model-armor", ModelArmorGuardArgs(spec=spec, project="example-project", location="us-central1")
        )
    )


def test_template_screens_injection_uris_and_rai_at_the_configured_level(pulumi_mocks: Any) -> None:
    resources = guard(pulumi_mocks, confidenceLevel="HIGH")
    (template,) = [r for r in resources if r.type == "gcp:modelarmor/template:Template"]
    assert (template.get("templateId"), template.get("location")) == ("inference-gateway", "us-central1")
    config = template.get("filterConfig")
    assert config["piAndJailbreakFilterSettings"] == {
        "filterEnforcement": "ENABLED",
        "confidenceLevel": "HIGH",
    }
    assert config["maliciousUriFilterSettings"] == {"filterEnforcement": "ENABLED"}
    assert {f["confidenceLevel"] for f in config["raiSettings"]["raiFilters"]} == {"HIGH"}
    assert not [r for r in resources if r.type == "gcp:projects/iAMMember:IAMMember"]


def test_project_number_grants_the_service_extensions_agent(pulumi_mocks: Any) -> None:
    grants = [
        r
        for r in guard(pulumi_mocks, projectNumber="123456789")
        if r.type == "gcp:projects/iAMMember:IAMMember"
    ]
    assert {g.get("member") for g in grants} == {
        "serviceAccount:service-123456789@gcp-sa-dep.iam.gserviceaccount.com"
    }
    assert "roles/modelarmor.calloutUser" in {g.get("role") for g in grants}


def test_gateway_gets_the_extension_and_args_demand_the_template(pulumi_mocks: Any) -> None:
    import pulumi_kubernetes as k8s

    from components.config.services import ServicesConfig
    from components.inference_service import InferenceService, InferenceServiceArgs

    config = ServicesConfig.model_validate(
        {
            "picker": {"image": "ghcr.io/example/picker:0.1.0"},
            "pools": [{"name": "p", "model": "m"}],
            "modelArmor": {"models": ["m"]},
        }
    )
    with pytest.raises(ValueError, match="model_armor_template"):
        InferenceServiceArgs(cluster_name="c", services=config, provider=None, picker_image="x:1")  # type: ignore[arg-type]

    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig="unused-under-mocks")
        args = InferenceServiceArgs(
            cluster_name="c",
            services=config,
            provider=provider,
            picker_image="ghcr.io/example/picker:0.1.0",
            model_armor_template=TEMPLATE,
            model_armor_location="us-central1",
        )
        InferenceService("c-inference", args)

    resources = pulumi_mocks.record(program)
    (extension,) = [r for r in resources if r.type == "kubernetes:networking.gke.io/v1:GCPTrafficExtension"]
    assert extension.get("metadata.name") == "inference-gateway-model-armor"
    settings = json.loads(
        extension.get("spec.extensionChains[0].extensions[0].metadata.model_armor_settings")
    )
    assert settings == [
        {"model": "m", "user_prompt_template_id": TEMPLATE, "model_response_template_id": TEMPLATE}
    ]
