"""How `infgw local` runs one cluster's gateway: its port, start-up patience and log settings (defined once:
the `infgw local` flags default to these)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GatewayOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    port: int = Field(0, ge=0, le=65_535, description="Envoy's listener port; 0 = a free one.")
    ready_timeout_s: float = Field(60.0, gt=0)
    access_log: bool = False
    picker_log_level: str = "warning"
    envoy_log_level: str = "warning"
