from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest
from picker.config.errors import ConfigError
from picker.datastore.static_source import StaticEndpointSource
from picker.datastore.store import EndpointStore
from picker.framework.clock import FakeClock

GOOD = """\
endpoints:
- {name: sim-0, address: 127.0.0.1, port: 8001}
- {name: sim-1, address: 127.0.0.1, port: 8002, labels: {zone: a}}
objectives:
- {name: critical, priority: 10}
- {name: batch, priority: -1}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_load_fills_endpoints_and_objectives(tmp_path: Path) -> None:
    store = EndpointStore()
    StaticEndpointSource(write(tmp_path / "pool.yaml", GOOD), store, FakeClock()).load()
    assert [(s.endpoint.name, s.endpoint.hostport) for s in store.candidates()] == [
        ("sim-0", "127.0.0.1:8001"),
        ("sim-1", "127.0.0.1:8002"),
    ]
    assert store.priority_of("batch") == -1
    assert store.synced


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("endpoints: [{name: a, address: localhost, port: 8000}]", "endpoints[0].address"),
        ("endpoints: [{name: a, address: 10.0.0.1, port: 70000}]", "endpoints[0].port"),
        (
            "endpoints: [{name: a, address: 10.0.0.1, port: 1}, {name: a, address: 10.0.0.2, port: 1}]",
            "endpoints[1].name",
        ),
        ("objectives: [{name: x, priority: high}]", "objectives[0].priority"),
        ("endpoint: []", "endpoint"),
    ],
    ids=[
        "hostname instead of IP",
        "port out of range",
        "duplicate endpoint name",
        "non-integer priority",
        "misspelt key",
    ],
)
def test_bad_file_names_the_key_and_changes_nothing(tmp_path: Path, text: str, path: str) -> None:
    store = EndpointStore()
    with pytest.raises(ConfigError) as raised:
        StaticEndpointSource(write(tmp_path / "pool.yaml", text), store, FakeClock()).load()
    assert path in [issue.path for issue in raised.value.issues]
    assert store.candidates() == () and not store.synced


async def test_run_reloads_on_change_and_keeps_last_good_state(tmp_path: Path) -> None:
    clock = FakeClock()
    store = EndpointStore()
    pool_file = write(tmp_path / "pool.yaml", GOOD)
    source = StaticEndpointSource(pool_file, store, clock, poll_interval_s=1.0)
    source.load()
    task = asyncio.create_task(source.run())
    await asyncio.sleep(0)  # let the loop start and register its first sleep
    try:
        write(pool_file, "endpoints: [{name: only, address: 10.1.1.1, port: 9000}]\n")
        await clock.advance(1.0)
        assert [s.endpoint.name for s in store.candidates()] == ["only"]
        write(pool_file, "endpoints: [{name: broken, address: nope, port: 9000}]\n")
        await clock.advance(1.0)
        assert [s.endpoint.name for s in store.candidates()] == ["only"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
