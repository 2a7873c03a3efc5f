from __future__ import annotations

import pytest
from picker.plugins.lora_affinity_scorer import LoraAffinityScorer

from tests.picker.unit.builders import endpoint_state, inference_request


@pytest.mark.parametrize(
    ("active", "waiting", "max_lora", "expected"),
    [
        ({"tweets"}, set(), 2, 1.0),
        ({"other"}, set(), 2, 0.8),
        ({"a", "b"}, {"tweets"}, 2, 0.6),
        ({"a", "b"}, set(), 2, 0.0),
        (set(), set(), 0, 0.0),
        ({"tweets", "a"}, {"b"}, 2, 1.0),
    ],
    ids=[
        "adapter running scores 1",
        "free slot scores 0.8",
        "adapter waiting with no free slot scores 0.6",
        "no slot and not waiting scores 0",
        "server without LoRA scores 0",
        "running beats a full slot table",
    ],
)
def test_lora_affinity_table(active: set[str], waiting: set[str], max_lora: int, expected: float) -> None:
    state = endpoint_state(
        0,
        active_lora_adapters=frozenset(active),
        waiting_lora_adapters=frozenset(waiting),
        max_active_loras=max_lora,
    )
    assert LoraAffinityScorer().score(inference_request(model="tweets"), [state]) == [expected]
