"""The live status table: one row per replica, down replicas and exited children called out."""

from __future__ import annotations

from rich.console import Console

from infgw.local.replica_status import ReplicaStatus
from infgw.local.status_view import render_status


def rendered(*args, **kwargs) -> str:
    console = Console(record=True, width=160, color_system=None)
    console.print(render_status(*args, **kwargs))
    return console.export_text()


def test_rows_show_queue_running_kv_prefix_and_adapters() -> None:
    busy = ReplicaStatus(
        name="llama-0", up=True, waiting=4, running=2, kv_usage=0.125, prefix_hits=3, prefix_queries=4,
        running_adapters=("food-review-1",), waiting_adapters=("cad",), requests_done=9,
    )  # fmt: skip
    idle = ReplicaStatus(name="llama-1", up=True)
    text = rendered("http://127.0.0.1:8080", [("llama", [busy, idle])])
    assert "Local inference gateway at http://127.0.0.1:8080" in text
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")
    ]
    assert rows == [
        ["0", "up", "4", "2", "12.5%", "75.0%", "9", "food-review-1 / cad"],
        ["1", "up", "0", "0", "0.0%", "-", "0", "-"],  # no prefix queries yet, no adapters
    ]


def test_several_pools_get_a_heading_each() -> None:
    text = rendered(
        "http://127.0.0.1:8080",
        [
            ("llama", [ReplicaStatus(name="llama-0", up=True)]),
            ("qwen", [ReplicaStatus(name="qwen-0", up=True)]),
        ],
    )
    assert text.index("pool llama") < text.index("pool qwen")


def test_down_replica_and_exited_children_are_called_out() -> None:
    down = ReplicaStatus(name="qwen-0", up=False, error="ClientConnectorError")
    text = rendered("http://127.0.0.1:1", [("qwen", [down])], ["replica:qwen-0"])
    down_row = next(line for line in text.splitlines() if "down" in line)
    assert "ClientConnectorError" in down_row
    assert "exited: replica:qwen-0" in text
    assert "Ctrl-C stops the gateway" in text
