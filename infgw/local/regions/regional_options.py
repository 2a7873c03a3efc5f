"""How `infgw local` runs a multi-region stack: the tier's port, the client region, the modelled delays, and
what it passes on to every region's gateway (defined once: the `infgw local` flags default to these)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from infgw.local.gateway_options import GatewayOptions


class RegionalOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    port: int = Field(0, ge=0, le=65_535, description="The client region's tier listener; 0 = a free one.")
    client_region: str | None = Field(None, description="Region (or cluster) of `url`; default the first.")
    inter_region_delay_s: float = Field(0.0, ge=0, description="Added to every cross-region hop.")
    report_delay_s: float = Field(
        1.0, ge=0, description="Utilization becomes visible this long after it is measured."
    )
    report_interval_s: float = Field(0.5, gt=0, description="How often the regions are scraped and reported.")
    # Passed on to every region's LocalGateway: its defaults.
    ready_timeout_s: float = Field(GatewayOptions.model_fields["ready_timeout_s"].default, gt=0)
    access_log: bool = GatewayOptions.model_fields["access_log"].default
