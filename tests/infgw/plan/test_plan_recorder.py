"""PlanRecorder: what a registration looks like once recorded (secrets hidden, unknowns marked)."""

from __future__ import annotations

import pulumi

from infgw.plan.model import SECRET, UNKNOWN, PlannedResource
from infgw.plan.recorder import PlanRecorder


class _Holder(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("test:index:Holder", name, None, None)
        self.register_outputs({})


def record_example(pulumi_mocks: PlanRecorder) -> list[PlannedResource]:
    import pulumi_gcp as gcp

    def build() -> None:
        holder = _Holder("holder")
        account = gcp.serviceaccount.Account(
            "sa", account_id="example-sa", opts=pulumi.ResourceOptions(parent=holder)
        )
        gcp.projects.IAMMember(
            "grant",
            project="p-123456",
            role="roles/viewer",
            member=account.email.apply(lambda email: f"serviceAccount:{email}"),
            condition=gcp.projects.IAMMemberConditionArgs(
                title="t", expression=pulumi.Output.secret("request.time < timestamp('2030-01-01T00:00:00Z')")
            ),
            opts=pulumi.ResourceOptions(parent=holder, depends_on=[account]),
        )
        gcp.container.NodePool("pool", cluster="c", location="europe-west3", node_count=3)

    return pulumi_mocks.record(build)


def test_unknown_computed_values_are_marked(pulumi_mocks: PlanRecorder) -> None:
    grant = next(r for r in record_example(pulumi_mocks) if r.name == "grant")
    assert grant.get("member") == UNKNOWN
    assert grant.unknown_paths == ("member",)


def test_secret_values_are_never_recorded(pulumi_mocks: PlanRecorder) -> None:
    grant = next(r for r in record_example(pulumi_mocks) if r.name == "grant")
    # The SDK marks the smallest enclosing object secret: the whole condition, not just its expression.
    assert grant.get("condition") == SECRET
    assert grant.secret_paths == ("condition",)
    assert "2030" not in str(grant.to_json())


def test_parent_dependencies_and_numbers_as_the_engine_sends_them(pulumi_mocks: PlanRecorder) -> None:
    resources = {r.name: r for r in record_example(pulumi_mocks)}
    holder, account, grant, pool = resources["holder"], resources["sa"], resources["grant"], resources["pool"]
    assert holder.is_component and not account.is_component
    assert account.parent_urn == holder.urn == grant.parent_urn
    assert account.urn in grant.dependencies
    assert pool.get("nodeCount") == 3.0 and isinstance(pool.get("nodeCount"), float)
    assert pool.get("nodeConfig.machineType") is None


def test_record_starts_empty_each_time(pulumi_mocks: PlanRecorder) -> None:
    first = record_example(pulumi_mocks)
    second = record_example(pulumi_mocks)
    assert [r.urn for r in first] == [r.urn for r in second]
