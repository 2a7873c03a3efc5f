"""The dev stack (two regions, CUSTOM_METRICS on kv-cache at 60%) rendered once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from infgw.local.command import render_checked_stack


@pytest.fixture(scope="session")
def dev_manifests(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> tuple[Path, list[str]]:
    manifests = tmp_path_factory.mktemp("dev-manifests")
    _, notes = render_checked_stack("dev", repo_root, manifests)
    return manifests, notes
