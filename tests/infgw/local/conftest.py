"""Fixtures of the local gateway's tests: test stacks next to the repository's Pulumi.yaml."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from local_gateway_stacks import TWO_POOL_SERVICES, render_services, write_stack

from components.config.services import ServicesConfig
from infgw.local.plan import LocalPlan


@pytest.fixture(scope="session")
def project_file(repo_root: Path) -> Path:
    return repo_root / "Pulumi.yaml"


@pytest.fixture(scope="session")
def two_pool_project(tmp_path_factory: pytest.TempPathFactory, project_file: Path) -> Path:
    return write_stack(tmp_path_factory.mktemp("two-pool"), "two-pool", TWO_POOL_SERVICES, project_file)


@pytest.fixture(scope="session")
def two_pool_plan(_plan_recorder_session: Any) -> LocalPlan:
    """The two-pool stack's local plan, read from the objects InferenceService renders for it."""
    from infgw.local.plan import local_plan_from_objects

    services = ServicesConfig.model_validate(TWO_POOL_SERVICES)
    return local_plan_from_objects(render_services(_plan_recorder_session, services), stack="t")


@pytest.fixture(scope="session")
def one_pool_plan(_plan_recorder_session: Any) -> LocalPlan:
    from infgw.local.plan import local_plan_from_objects

    document = copy.deepcopy(TWO_POOL_SERVICES)
    document["pools"] = document["pools"][:1]
    services = ServicesConfig.model_validate(document)
    return local_plan_from_objects(render_services(_plan_recorder_session, services), stack="t")
