"""AutoscalingMetric (autoscaling.gke.io/v1beta1, load-balancing form): exports a pod metric to the LB.

The exported name is what GCPBackendPolicy reads as `gke.named_metrics.<exportName>`. GKE requires a
gauge in [0, 1] and at most 10 exported metrics per cluster.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from components.crds.api_versions import AUTOSCALING_METRIC, ApiKind
from components.crds.base import CrdModel, LabelSelector

MAX_EXPORTED_METRICS_PER_CLUSTER = 10


class ExportedMetric(CrdModel):
    name: str = Field(min_length=1)
    export_name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,62}[a-z0-9])?$")


class MetricsEndpoint(CrdModel):
    port: int = Field(ge=1, le=65535)
    path: str = "/metrics"
    metrics: list[ExportedMetric] = Field(min_length=1, max_length=MAX_EXPORTED_METRICS_PER_CLUSTER)


class AutoscalingMetricSpec(CrdModel):
    API: ClassVar[ApiKind] = AUTOSCALING_METRIC

    selector: LabelSelector
    endpoints: list[MetricsEndpoint] = Field(min_length=1)
