"""PodMonitoring (monitoring.googleapis.com/v1): Managed Prometheus scrape of pods by label."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from components.crds.api_versions import POD_MONITORING, ApiKind
from components.crds.base import CrdModel, LabelSelector


class SecretKeySelector(CrdModel):
    name: str
    key: str


class SecretCredentials(CrdModel):
    secret: SecretKeySelector


class ScrapeAuthorization(CrdModel):
    type: Literal["Bearer"] = "Bearer"
    credentials: SecretCredentials


class ScrapeEndpoint(CrdModel):
    # A named container port or a number.
    port: str | int
    scheme: Literal["http", "https"] = "http"
    interval: str = Field(default="10s", pattern=r"^[0-9]+(ms|s|m)$")
    path: str = "/metrics"
    authorization: ScrapeAuthorization | None = None


class PodMonitoringSpec(CrdModel):
    API: ClassVar[ApiKind] = POD_MONITORING

    selector: LabelSelector
    endpoints: list[ScrapeEndpoint] = Field(min_length=1)
