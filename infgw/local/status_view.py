"""The live status view of `infgw local`: per pool, one row per simulated replica, from its /metrics."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from infgw.local.replica_status import ReplicaStatus

LEGEND = (
    "queue: waiting requests; KV: cache in use; prefix: share of prompt tokens served from cache; "
    "adapters: running / waiting"
)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _pool_table(pool: str, replicas: Sequence[ReplicaStatus]) -> Table:
    table = Table(title=f"pool {pool}", title_justify="left", title_style="bold")
    table.add_column("replica", no_wrap=True)
    table.add_column("state")
    table.add_column("queue", justify="right")
    table.add_column("running", justify="right")
    table.add_column("KV", justify="right")
    table.add_column("prefix", justify="right")
    table.add_column("done", justify="right")
    table.add_column("adapters")
    for replica in replicas:
        # Replicas are named <pool>-<n>; under the pool's title the number says enough (and fits 80 columns).
        label = replica.name.removeprefix(f"{pool}-")
        if not replica.up:
            table.add_row(label, Text("down", style="red"), *[""] * 5, Text(replica.error or "", style="red"))
            continue
        adapters = ", ".join(replica.running_adapters) or "-"
        if replica.waiting_adapters:
            adapters += f" / {', '.join(replica.waiting_adapters)}"
        table.add_row(
            label,
            Text("up", style="green"),
            str(replica.waiting),
            str(replica.running),
            _percent(replica.kv_usage),
            _percent(replica.prefix_hit_rate),
            str(replica.requests_done),
            adapters,
        )
    return table


def render_status(
    gateway_url: str,
    pools: Sequence[tuple[str, Sequence[ReplicaStatus]]],
    stopped_children: Sequence[str] = (),
) -> RenderableType:
    """``pools``: (pool name, its replicas' status) in plan order."""
    parts: list[RenderableType] = [Text(f"Local inference gateway at {gateway_url}", style="bold")]
    parts += [_pool_table(pool, replicas) for pool, replicas in pools]
    parts.append(Text(LEGEND, style="dim"))
    if stopped_children:
        parts.append(Text(f"exited: {', '.join(stopped_children)} (see their logs)", style="red"))
    parts.append(Text("Ctrl-C stops the gateway and every process it started.", style="dim"))
    return Group(*parts)
