"""InferenceDashboard: one Cloud Monitoring dashboard for the stack's pools, from the pickers' metrics.

Charts PromQL over Managed Prometheus (the pickers' PodMonitoring feeds it): request rate, latency
quantiles, errors, running requests per objective; queue depth, KV-cache use and ready pods per pool.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from components.runtime.child_options import child_options

# Cloud Monitoring's mosaic grid is 48 columns wide; two charts per row.
GRID_COLUMNS = 48
TILE_WIDTH = 24
TILE_HEIGHT = 16
RATE_WINDOW = "5m"


@dataclass(frozen=True, kw_only=True)
class InferenceDashboardArgs:
    project: pulumi.Input[str]
    display_name: str
    namespace: str
    pools: Sequence[str]

    def __post_init__(self) -> None:
        if not self.pools:
            raise ValueError("pools: a dashboard needs at least one pool to chart")


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    query: str
    unit: str
    # Label that splits the chart into one series per value (objective, pool, error code).
    legend: str


def charts(namespace: str, pools: Sequence[str]) -> list[Chart]:
    """The dashboard's charts, scoped to this stack's namespace and pools."""
    pool_filter = f'namespace="{namespace}",name=~"{"|".join(re.escape(pool) for pool in pools)}"'
    in_namespace = f'namespace="{namespace}"'
    duration = f"rate(inference_objective_request_duration_seconds_bucket{{{in_namespace}}}[{RATE_WINDOW}])"
    return [
        Chart(
            "Requests per second, by objective",
            f"sum by (model_name) (rate(inference_objective_request_total{{{in_namespace}}}[{RATE_WINDOW}]))",
            "1/s",
            "model_name",
        ),
        *(
            Chart(
                f"Request latency p{quantile}, by objective",
                f"histogram_quantile(0.{quantile}, sum by (le, model_name) ({duration}))",
                "s",
                "model_name",
            )
            for quantile in ("50", "99")
        ),
        Chart(
            "Errors per second, by code",
            f"sum by (error_code) (rate(inference_objective_request_error_total{{{in_namespace}}}[{RATE_WINDOW}]))",
            "1/s",
            "error_code",
        ),
        Chart(
            "Running requests, by objective",
            f"sum by (model_name) (inference_objective_running_requests{{{in_namespace}}})",
            "1",
            "model_name",
        ),
        Chart(
            "Queue depth (average per pod), by pool",
            f"max by (name) (inference_pool_average_queue_size{{{pool_filter}}})",
            "1",
            "name",
        ),
        Chart(
            "KV-cache utilization (average per pod), by pool",
            f"max by (name) (inference_pool_average_kv_cache_utilization{{{pool_filter}}})",
            "10^2.%",
            "name",
        ),
        Chart(
            "Ready model-server pods, by pool",
            f"max by (name) (inference_pool_ready_pods{{{pool_filter}}})",
            "1",
            "name",
        ),
    ]


def dashboard_layout(display_name: str, namespace: str, pools: Sequence[str]) -> dict[str, Any]:
    """The Cloud Monitoring dashboard resource (the `dashboard_json` body)."""
    tiles = []
    for index, chart in enumerate(charts(namespace, pools)):
        tiles.append(
            {
                "xPos": (index % 2) * TILE_WIDTH,
                "yPos": (index // 2) * TILE_HEIGHT,
                "width": TILE_WIDTH,
                "height": TILE_HEIGHT,
                "widget": {
                    "title": chart.title,
                    "xyChart": {
                        "dataSets": [
                            {
                                "timeSeriesQuery": {
                                    "prometheusQuery": chart.query,
                                    "unitOverride": chart.unit,
                                },
                                "plotType": "LINE",
                                "legendTemplate": f"${{labels.{chart.legend}}}",
                            }
                        ],
                        "yAxis": {"scale": "LINEAR"},
                    },
                },
            }
        )
    return {"displayName": display_name, "mosaicLayout": {"columns": GRID_COLUMNS, "tiles": tiles}}


class InferenceDashboard(pulumi.ComponentResource):
    """Output `dashboard_id`: the Cloud Monitoring dashboard resource id."""

    dashboard_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: InferenceDashboardArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("infgw:index:InferenceDashboard", name, None, opts)
        layout = dashboard_layout(args.display_name, args.namespace, args.pools)
        dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard",
            project=args.project,
            dashboard_json=json.dumps(layout, sort_keys=True),
            opts=child_options(self, opts),
        )
        self.dashboard_id = dashboard.id
        self.register_outputs({"dashboardId": self.dashboard_id})
