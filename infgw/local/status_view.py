"""The live status table of `infgw local`: one row per simulated replica, refreshed from /metrics."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from infgw.local.replica_status import ReplicaStatus


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def render_status(
    gateway_url: str, pools: Sequence[tuple[str, Sequence[ReplicaStatus]]], stopped_children: Sequence[str] = ()
) -> RenderableType:
    """``pools``: (pool name, its replicas' status) in plan order."""
    table = Table(title=f"Local inference gateway at {gateway_url}", title_justify="left", expand=False)
    table.add_column("pool")
    table.add_column("replica")
    table.add_column("state")
    table.add_column("queue", justify="right")
    table.add_column("running", justify="right")
    table.add_column("KV use", justify="right")
    table.add_column("prefix hits", justify="right")
    table.add_column("done", justify="right")
    table.add_column("adapters (running / waiting)")
    for pool, replicas in pools:
        for index, replica in enumerate(replicas):
            if not replica.up:
                table.add_row(
                    pool if index == 0 else "", replica.name, Text(f"down ({replica.error})", style="red"),
                    "", "", "", "", "", "",
                )  # fmt: skip
                continue
            adapters = ", ".join(replica.running_adapters) or "-"
            if replica.waiting_adapters:
                adapters += f" / {', '.join(replica.waiting_adapters)}"
            table.add_row(
                pool if index == 0 else "",
                replica.name,
                Text("up", style="green"),
                str(replica.waiting),
                str(replica.running),
                _percent(replica.kv_usage),
                _percent(replica.prefix_hit_rate),
                str(replica.requests_done),
                adapters,
            )
    parts: list[RenderableType] = [table]
    if stopped_children:
        parts.append(Text(f"exited: {', '.join(stopped_children)} (see their logs)", style="red"))
    parts.append(Text("Ctrl-C stops the gateway and every process it started.", style="dim"))
    return Group(*parts)
