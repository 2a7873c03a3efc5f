"""ModelArmorGuard: the Model Armor template the gateway's traffic extension screens prompts and responses with.

The Kubernetes side (the GCPTrafficExtension on the Gateway) is `components/specs/model_armor_extension.py`;
this component owns the GCP side: the template and, when the project number is
configured, the Service Extensions agent's roles.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.config.services import ModelArmorSpec
from components.runtime.child_options import child_options

# Responsible-AI categories the template screens, each at the configured confidence.
RAI_FILTER_TYPES = ("SEXUALLY_EXPLICIT", "HATE_SPEECH", "HARASSMENT", "DANGEROUS")
# What the load balancer's Service Extensions agent needs to call Model Armor.
AGENT_ROLES = (
    "roles/modelarmor.calloutUser",
    "roles/serviceusage.serviceUsageConsumer",
    "roles/modelarmor.user",
)


def template_name(project: str, location: str, template_id: str) -> str:
    return f"projects/{project}/locations/{location}/templates/{template_id}"


@dataclass(frozen=True, kw_only=True)
class ModelArmorGuardArgs:
    spec: ModelArmorSpec
    project: str
    location: str


class ModelArmorGuard(pulumi.ComponentResource):
    """Output `template_name`: the template's full resource name, for the traffic extension's metadata."""

    def __init__(
        self, name: str, args: ModelArmorGuardArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("infgw:index:ModelArmorGuard", name, None, opts)
        spec = args.spec
        level = spec.confidence_level
        gcp.modelarmor.Template(
            f"{name}-template",
            project=args.project,
            location=args.location,
            template_id=spec.template_id,
            filter_config=gcp.modelarmor.TemplateFilterConfigArgs(
                pi_and_jailbreak_filter_settings=gcp.modelarmor.TemplateFilterConfigPiAndJailbreakFilterSettingsArgs(
                    filter_enforcement="ENABLED", confidence_level=level
                ),
                malicious_uri_filter_settings=gcp.modelarmor.TemplateFilterConfigMaliciousUriFilterSettingsArgs(
                    filter_enforcement="ENABLED"
                ),
                rai_settings=gcp.modelarmor.TemplateFilterConfigRaiSettingsArgs(
                    rai_filters=[
                        gcp.modelarmor.TemplateFilterConfigRaiSettingsRaiFilterArgs(
                            filter_type=filter_type, confidence_level=level
                        )
                        for filter_type in RAI_FILTER_TYPES
                    ]
                ),
            ),
            opts=child_options(self, opts),
        )
        if spec.project_number is not None:
            agent = f"serviceAccount:service-{spec.project_number}@gcp-sa-dep.iam.gserviceaccount.com"
            for role in AGENT_ROLES:
                gcp.projects.IAMMember(
                    f"{name}-{role.removeprefix('roles/').replace('.', '-')}",
                    project=args.project,
                    role=role,
                    member=agent,
                    opts=child_options(self, opts),
                )
        self.template_name = template_name(args.project, args.location, spec.template_id)
        self.register_outputs({"templateName": self.template_name})
