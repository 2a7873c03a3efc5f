"""InferenceDashboard: the Cloud Monitoring dashboard over the pickers' metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.inference_dashboard import GRID_COLUMNS, charts, dashboard_layout

PICKER_METRICS = {
    "inference_objective_request_total",
    "inference_objective_request_duration_seconds_bucket",
    "inference_objective_request_error_total",
    "inference_objective_running_requests",
    "inference_pool_average_queue_size",
    "inference_pool_average_kv_cache_utilization",
    "inference_pool_ready_pods",
}


def test_every_chart_queries_a_metric_the_picker_exports() -> None:
    queries = [chart.query for chart in charts("default", ["llama", "phi4"])]
    assert {
        metric for metric in PICKER_METRICS if any(metric + "{" in query for query in queries)
    } == PICKER_METRICS


def test_pool_charts_are_scoped_to_the_stack() -> None:
    pool_charts = [
        chart for chart in charts("serving", ["llama-stable", "phi4.mini"]) if chart.legend == "name"
    ]
    assert len(pool_charts) == 3
    for chart in pool_charts:
        assert 'namespace="serving",name=~"llama\\-stable|phi4\\.mini"' in chart.query


def test_layout_tiles_fit_the_grid_without_overlap() -> None:
    layout = dashboard_layout("Inference gateway (dev)", "default", ["llama"])
    tiles = layout["mosaicLayout"]["tiles"]
    assert layout["mosaicLayout"]["columns"] == GRID_COLUMNS
    cells = set()
    for tile in tiles:
        assert tile["xPos"] + tile["width"] <= GRID_COLUMNS
        cell = (tile["xPos"], tile["yPos"])
        assert cell not in cells
        cells.add(cell)
        (data_set,) = tile["widget"]["xyChart"]["dataSets"]
        assert data_set["timeSeriesQuery"]["prometheusQuery"]
    json.dumps(layout)  # the dashboard_json body must serialize


def test_dashboard_resource(pulumi_mocks: Any) -> None:
    from components.inference_dashboard import InferenceDashboard, InferenceDashboardArgs

    resources = pulumi_mocks.record(
        lambda: InferenceDashboard(
            "inference-dashboard",
            InferenceDashboardArgs(
                project="example-project", display_name="IG", namespace="default", pools=["p"]
            ),
        )
    )
    (dashboard,) = [r for r in resources if r.type == "gcp:monitoring/dashboard:Dashboard"]
    assert dashboard.get("project") == "example-project"
    assert json.loads(dashboard.get("dashboardJson"))["displayName"] == "IG"


def test_dashboard_needs_pools() -> None:
    from components.inference_dashboard import InferenceDashboardArgs

    with pytest.raises(ValueError, match="pools"):
        InferenceDashboardArgs(project="p", display_name="IG", namespace="default", pools=[])
