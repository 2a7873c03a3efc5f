"""The GCPTrafficExtension that sends the Gateway's traffic to Model Armor (the Kubernetes side of
`components.model_armor.ModelArmorGuard`)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from components.config.services import ModelArmorSpec
from components.crds import Extension, ExtensionChain, GCPTrafficExtensionSpec, TargetRef
from components.crds.api_versions import GATEWAY


def model_armor_api(location: str) -> str:
    """The regional endpoint the traffic extension calls (`googleAPIServiceName`)."""
    return f"modelarmor.{location}.rep.googleapis.com"


def model_armor_settings(template: str, models: Sequence[str]) -> str:
    """The extension's `model_armor_settings` metadata: one entry per model, or `default` for all."""
    entries = [
        {"model": model, "user_prompt_template_id": template, "model_response_template_id": template}
        for model in (models or ["default"])
    ]
    return json.dumps(entries, separators=(",", ":"))


def model_armor_extension_spec(
    gateway_name: str, location: str, template: str, spec: ModelArmorSpec
) -> GCPTrafficExtensionSpec:
    """The GCPTrafficExtension on the Gateway: every request and response event goes to Model Armor."""
    return GCPTrafficExtensionSpec(
        target_refs=[TargetRef(group=GATEWAY.group, kind=GATEWAY.kind, name=gateway_name)],
        extension_chains=[
            ExtensionChain(
                name="model-armor",
                extensions=[
                    Extension(
                        name="model-armor",
                        google_api_service_name=model_armor_api(location),
                        supported_events=[
                            "RequestHeaders",
                            "RequestBody",
                            "RequestTrailers",
                            "ResponseHeaders",
                            "ResponseBody",
                            "ResponseTrailers",
                        ],
                        timeout=f"{spec.timeout_ms}ms",
                        fail_open=spec.fail_open,
                        metadata={"model_armor_settings": model_armor_settings(template, spec.models)},
                    )
                ],
            )
        ],
    )
