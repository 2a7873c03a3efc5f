"""docs/configuration.md's key table is generated from the config models and must not go stale."""

from __future__ import annotations

from components.config.reference import DOC, main, reference_table, render_document


def test_reference_lists_every_region_key() -> None:
    table = reference_table()
    for key in (
        "gcp:project",
        "regions.<name>.zone",
        "regions.<name>.gpuPool.acceleratorCount",
        "fleet.configCluster",
        "gkeVersion",
    ):
        assert f"| `{key}` |" in table


def test_committed_doc_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert render_document(text) == text, (
        "docs/configuration.md is stale; run: .venv/bin/python -m components.config.reference"
    )
    assert main(["--check"]) == 0
