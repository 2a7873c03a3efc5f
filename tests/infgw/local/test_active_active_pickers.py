"""Active-active pickers run locally with the flags the stack deploys: one derivation
(picker.placements.peer_flags) for both, the stack's addresses (UDP 9004 and the headless Service's name)
replaced by a loopback port per replica with the others' as peers; every other flag as planned."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from local_gateway_stacks import TWO_POOL_SERVICES, render_services
from picker.placements.peer_flags import PLACEMENT_FLAGS, placement_sharing_flags

from components.config.services import ServicesConfig
from components.specs.picker_workload import picker_placement_args
from infgw.launch.command_line import without_flags
from infgw.local.gateway import LOOPBACK, LocalGateway
from infgw.local.gateway_options import GatewayOptions
from infgw.local.plan import LocalPlan, local_plan_from_objects


def one_pool(picker: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(TWO_POOL_SERVICES)
    document["pools"] = document["pools"][:1]
    document["pools"][0] |= {"replicas": 2, "picker": picker}
    return document


ACTIVE_ACTIVE = one_pool({"replicas": 2, "profile": "precise"})


def plan_of(recorder: Any, document: dict[str, Any]) -> LocalPlan:
    return local_plan_from_objects(render_services(recorder, ServicesConfig.model_validate(document)), stack="t")


@pytest.fixture(scope="module")
def active_active_plan(_plan_recorder_session: Any) -> LocalPlan:
    return plan_of(_plan_recorder_session, ACTIVE_ACTIVE)


def placement_part(args: list[str]) -> list[str]:
    """The placement flags of a command line, in order (they come as one run)."""
    start = args.index("--placement-port")
    end = start + 4 if args[start + 2 : start + 3] == ["--placement-peers"] else start + 2
    return args[start:end]


def test_the_planned_picker_carries_the_stacks_flags_from_the_shared_function(active_active_plan: LocalPlan) -> None:
    planned = list(active_active_plan.pool("llama").picker.args)
    pool = ServicesConfig.model_validate(ACTIVE_ACTIVE).pools[0]
    assert placement_part(planned) == picker_placement_args(pool, "default")
    assert placement_part(planned) == placement_sharing_flags(9004, [("llama-epp-peers.default.svc.cluster.local", 9004)])


def test_each_local_replica_gets_the_same_flags_on_its_own_loopback_port(
    active_active_plan: LocalPlan, tmp_path: Path
) -> None:
    pool = active_active_plan.pool("llama")
    gateway = LocalGateway(active_active_plan, GatewayOptions(), tmp_path)
    replicas = gateway.picker_replica_args(pool)
    assert len(replicas) == pool.picker.replicas == 2
    ports = [int(placement_part(args)[1]) for args in replicas]
    assert len(set(ports)) == 2
    unshared = without_flags(gateway.picker_args(pool), PLACEMENT_FLAGS)
    for port, args in zip(ports, replicas, strict=True):
        # Only the addresses differ from the planned command line, and they come from the same function.
        assert without_flags(args, PLACEMENT_FLAGS) == unshared
        others = [(LOOPBACK, other) for other in ports if other != port]
        assert placement_part(args) == placement_sharing_flags(port, others)


@pytest.mark.parametrize(
    "picker",
    [{"replicas": 1, "profile": "precise"}, {"replicas": 2, "profile": "recommended"}],
    ids=["one-replica", "leader-election"],
)
def test_pickers_the_stack_does_not_share_run_unshared_locally(
    _plan_recorder_session: Any, tmp_path: Path, picker: dict[str, Any]
) -> None:
    plan = plan_of(_plan_recorder_session, one_pool(picker))
    pool = plan.pool("llama")
    assert not set(PLACEMENT_FLAGS) & set(pool.picker.args)
    replicas = LocalGateway(plan, GatewayOptions(), tmp_path).picker_replica_args(pool)
    assert len(replicas) == picker["replicas"]
    assert all(not set(PLACEMENT_FLAGS) & set(args) for args in replicas)
