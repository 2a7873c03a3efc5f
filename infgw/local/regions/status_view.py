"""The regional status view: per region its reported utilization against the target, the share of its
clients kept in-region, its endpoints' health as the tier sees it, and where its clients' requests went."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from infgw.local.regions.gateway import RegionStatus

LEGEND = (
    "util: reported utilization (delayed) / target; local share: clients' requests kept in-region; "
    "local / spilled / failed over / failed: this region's clients' requests; served: answered here"
)


def region_table(rows: Sequence[RegionStatus]) -> Table:
    table = Table(title="regions", title_justify="left", title_style="bold")
    for column in ("region", "cluster", "util / target", "local share", "healthy", "local", "spilled",
                   "failed over", "failed", "served", "down"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("region", "cluster", "down") else "right")
    for row in rows:
        util = "-" if row.utilization is None else f"{100 * row.utilization:.0f}%"
        over = row.utilization is not None and row.utilization > row.target
        healthy = Text(
            f"{row.healthy_endpoints}/{row.endpoints}", style="green" if row.healthy_endpoints else "red"
        )
        table.add_row(
            row.region,
            row.cluster,
            Text(f"{util} / {100 * row.target:.0f}%", style="yellow" if over else ""),
            f"{100 * row.local_share:.0f}%",
            healthy,
            str(row.local),
            str(row.spilled),
            str(row.failed_over),
            Text(str(row.failed), style="red" if row.failed else ""),
            str(row.served),
            Text(", ".join(row.down) or "-", style="red" if row.down else ""),
        )
    return table


def render_regional_status(
    rows: Sequence[RegionStatus], control_url: str, mode: str, keys_help: str | None, last_fault: str
) -> RenderableType:
    """``keys_help``: the fault keys (None when the view reads no keyboard); ``last_fault``: what the
    last key did."""
    parts: list[RenderableType] = [
        Text("Local multi-region inference gateway", style="bold"),
        Text("  ".join(f"{row.region}: {row.url}" for row in rows)),
        Text(f"balancing: {mode}"),
        region_table(rows),
        Text(LEGEND, style="dim"),
    ]
    if keys_help is not None:
        parts.append(Text(keys_help))
    if last_fault:
        parts.append(Text(last_fault, style="yellow"))
    parts += [
        Text(
            f"faults: infgw region down|up REGION --part replicas|picker|health --control {control_url}",
            style="dim",
        ),
        Text("Ctrl-C stops the gateway and every process it started.", style="dim"),
    ]
    return Group(*parts)
