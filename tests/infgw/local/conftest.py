"""Fixtures of the local gateway's tests: test stacks next to the repository's Pulumi.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
from local_gateway_stacks import TWO_POOL_SERVICES, write_stack


@pytest.fixture(scope="session")
def project_file(repo_root: Path) -> Path:
    return repo_root / "Pulumi.yaml"


@pytest.fixture(scope="session")
def two_pool_project(tmp_path_factory: pytest.TempPathFactory, project_file: Path) -> Path:
    return write_stack(tmp_path_factory.mktemp("two-pool"), "two-pool", TWO_POOL_SERVICES, project_file)
