"""InferencePool (inference.networking.k8s.io/v1): the model-server pods behind one endpoint picker."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from components.crds.api_versions import INFERENCE_POOL, ApiKind
from components.crds.base import CrdModel, LabelSelector, PortNumber

FailureMode = Literal["FailOpen", "FailClose"]


class EndpointPickerRef(CrdModel):
    """Where the gateway finds the pool's picker: a Service and its ext_proc port."""

    group: str | None = None
    kind: str | None = None
    name: str = Field(min_length=1, max_length=253)
    # The Service port, not the container's; the CRD requires it when kind is Service (the default).
    port: PortNumber
    failure_mode: FailureMode | None = None


class InferencePoolSpec(CrdModel):
    """Pool spec: selector = the model server's pod labels, one endpoint per target port."""

    API: ClassVar[ApiKind] = INFERENCE_POOL

    selector: LabelSelector
    target_ports: list[PortNumber] = Field(min_length=1, max_length=8)
    app_protocol: Literal["http", "kubernetes.io/h2c"] | None = None
    endpoint_picker_ref: EndpointPickerRef

    @field_validator("target_ports")
    @classmethod
    def _ports_unique(cls, ports: list[PortNumber]) -> list[PortNumber]:
        numbers = [port.number for port in ports]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"target port numbers must be unique, got {numbers}")
        return ports
