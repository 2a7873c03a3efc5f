"""The engine-priority rule: which bodies get vLLM's ``priority`` field, with which value."""

from __future__ import annotations

from typing import Any

import pytest
from picker.engine_priority import vllm_priority, write_engine_priority


def test_mapping_negates_so_more_important_runs_earlier() -> None:
    objective_priorities = [10, 1, 0, -1, -5]  # most important first
    mapped = [vllm_priority(p) for p in objective_priorities]
    assert mapped == sorted(mapped)  # vLLM: lower runs earlier
    assert vllm_priority(0) == 0  # a default objective ranks with requests that carry none


@pytest.mark.parametrize(
    ("body", "objective_priority", "expected_body", "changed"),
    [
        ({"prompt": "x"}, 10, {"prompt": "x", "priority": -10}, True),
        ({"prompt": "x"}, -1, {"prompt": "x", "priority": 1}, True),
        ({"prompt": "x"}, 0, {"prompt": "x"}, False),  # vLLM's default: nothing to write
        ({"prompt": "x"}, None, {"prompt": "x"}, False),  # no known objective: untouched
        # A client-sent priority is overwritten: by the objective's, or by 0 without one.
        ({"prompt": "x", "priority": -1000}, 10, {"prompt": "x", "priority": -10}, True),
        ({"prompt": "x", "priority": -1000}, None, {"prompt": "x", "priority": 0}, True),
        ({"prompt": "x", "priority": "high"}, 0, {"prompt": "x", "priority": 0}, True),
        ({"prompt": "x", "priority": True}, -1, {"prompt": "x", "priority": 1}, True),
        ({"prompt": "x", "priority": -10}, 10, {"prompt": "x", "priority": -10}, False),  # already right
    ],
)
def test_priority_policy_owns_the_field(
    body: dict[str, Any], objective_priority: int | None, expected_body: dict[str, Any], changed: bool
) -> None:
    assert write_engine_priority(body, objective_priority, "priority") is changed
    assert body == expected_body


@pytest.mark.parametrize(
    "body", [{"prompt": "x"}, {"prompt": "x", "priority": 5}, {"messages": [], "priority": -3}]
)
@pytest.mark.parametrize("objective_priority", [10, -1, 0, None])
def test_fcfs_policy_never_writes_the_field(body: dict[str, Any], objective_priority: int | None) -> None:
    sent = dict(body)
    assert write_engine_priority(body, objective_priority, "fcfs") is False
    assert body == sent
