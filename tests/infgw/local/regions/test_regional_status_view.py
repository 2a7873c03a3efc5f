"""The regional status view: per region utilization against the target, local share, health, local /
spilled / failed over / failed / served, what is down; the fault keys when a terminal is attached."""

from __future__ import annotations

from rich.console import Console

from infgw.local.regions.gateway import RegionStatus
from infgw.local.regions.status_view import render_regional_status

WEST, EAST = "europe-west3", "us-east4"


def _row(region: str, **values: object) -> RegionStatus:
    base: dict[str, object] = {
        "region": region,
        "cluster": "gke-west" if region == WEST else "gke-east",
        "url": "http://127.0.0.1:1",
        "utilization": 0.72,
        "target": 0.6,
        "local_share": 0.55,
        "healthy_endpoints": 2,
        "endpoints": 2,
        "local": 40,
        "spilled": 31,
        "failed_over": 7,
        "failed": 3,
        "served": 52,
        "down": (),
    }
    return RegionStatus.model_validate(base | values)


def _text(keys_help: str | None, last_fault: str) -> str:
    rows = [_row(WEST, down=("health",), healthy_endpoints=0), _row(EAST, utilization=None, spilled=0)]
    console = Console(record=True, width=160)
    console.print(render_regional_status(rows, "http://127.0.0.1:9", "CUSTOM_METRICS", keys_help, last_fault))
    return console.export_text()


def test_each_region_shows_utilization_against_target_and_where_its_requests_went() -> None:
    text = _text(None, "")
    table_rows = [line for line in text.splitlines() if line.startswith("│")]
    west = next(line for line in table_rows if line.lstrip("│ ").startswith(WEST))
    cells = [cell.strip() for cell in west.split("│") if cell.strip()]
    assert cells == [WEST, "gke-west", "72% / 60%", "55%", "0/2", "40", "31", "7", "3", "52", "health"]
    east = next(line for line in table_rows if line.lstrip("│ ").startswith(EAST))
    assert "- / 60%" in east
    assert "--part replicas|picker|health" in text
    assert "keys:" not in text


def test_the_fault_keys_and_the_last_fault_show_when_the_view_reads_keys() -> None:
    text = _text("keys: 1 europe-west3, 2 us-east4 selects", "europe-west3: health down")
    assert "keys: 1 europe-west3, 2 us-east4 selects" in text
    assert "europe-west3: health down" in text
