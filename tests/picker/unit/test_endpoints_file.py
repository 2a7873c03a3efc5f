"""The static endpoints file's one model: what a writer builds is what the picker reads back."""

from __future__ import annotations

from pathlib import Path

import pytest
from picker.config.errors import ConfigError
from picker.datastore.endpoints_file import StaticEndpoint, StaticPoolFile, parse_static_pool


def test_written_file_reads_back_as_the_same_model(tmp_path: Path) -> None:
    pool = StaticPoolFile.of(
        [
            StaticEndpoint(name="a-rank-0", address="127.0.0.1", port=8000, labels={"pool": "llama"}),
            StaticEndpoint(name="a-rank-1", address="127.0.0.2", port=8001),
        ],
        {"critical": 100, "batch": -1},
    )
    path = pool.write(tmp_path / "pickers" / "endpoints.yaml")
    assert parse_static_pool(path.read_text(), str(path)) == pool
    assert [o.priority for o in pool.objectives] == [100, -1]
    assert not list(path.parent.glob(".*.new"))  # written by rename: no staging file left behind


def test_a_writer_cannot_build_a_file_the_picker_would_refuse() -> None:
    with pytest.raises(ValueError, match="is not an IP address"):
        StaticEndpoint(name="a", address="model-server", port=8000)


def test_duplicate_names_are_refused_with_their_index() -> None:
    text = StaticPoolFile.of(
        [
            StaticEndpoint(name="a", address="127.0.0.1", port=1),
            StaticEndpoint(name="a", address="127.0.0.1", port=2),
        ]
    ).to_yaml()
    with pytest.raises(ConfigError, match=r"endpoints\[1\]\.name"):
        parse_static_pool(text)
