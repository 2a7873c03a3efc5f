"""GCPTrafficExtension (networking.gke.io/v1): a callout on requests and responses after routing.

Used for Model Armor, which screens prompts and model responses through its regional Google API endpoint.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from components.crds.api_versions import GCP_TRAFFIC_EXTENSION, ApiKind
from components.crds.base import CrdModel
from components.crds.routing_extension import ExtensionChain, TargetRef


class GCPTrafficExtensionSpec(CrdModel):
    API: ClassVar[ApiKind] = GCP_TRAFFIC_EXTENSION

    target_refs: list[TargetRef] = Field(min_length=1)
    extension_chains: list[ExtensionChain] = Field(min_length=1)
