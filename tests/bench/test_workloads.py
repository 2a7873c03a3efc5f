"""Workloads are pure functions of (spec, seed) and have the shapes their names promise."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from bench.workloads import (
    OBJECTIVE_HEADER,
    WORKLOAD_ADAPTER,
    DominantPrefix,
    MultiLora,
    NoSharing,
    PriorityMix,
    SharedPrefixChat,
)

ALL_KINDS = [
    SharedPrefixChat(requests=60, context_words=100),
    NoSharing(requests=60, prompt_words=50),
    DominantPrefix(requests=60, context_words=100),
    MultiLora(requests=60, prompt_words=50),
    PriorityMix(requests=60),
]


@pytest.mark.parametrize("spec", ALL_KINDS, ids=lambda s: s.kind)
def test_same_seed_same_requests_other_seed_other_requests(spec):
    first, again, other = spec.generate(7), spec.generate(7), spec.generate(8)
    assert first == again
    assert [r.body() for r in first] != [r.body() for r in other]
    assert len(first) == spec.requests
    assert [r.index for r in first] == list(range(spec.requests))


def test_shared_prefix_conversations_grow_and_keep_turn_order():
    spec = SharedPrefixChat(requests=90, groups=3, turns=3, context_words=50)
    requests = spec.generate(1)
    by_conversation: dict[str, list] = {}
    for r in requests:
        by_conversation.setdefault(r.conversation, []).append(r)
    for turns in by_conversation.values():
        assert [r.turn for r in turns] == list(range(len(turns)))
        for earlier, later in itertools.pairwise(turns):
            # The later turn's prompt starts with the whole earlier conversation.
            assert later.messages[: len(earlier.messages)] == earlier.messages
            assert later.messages[len(earlier.messages)].role == "assistant"
    contexts = {r.prefix_group: r.messages[0].content for r in requests}
    assert len(contexts) == 3 and len(set(contexts.values())) == 3
    assert all(r.messages[0].content == contexts[r.prefix_group] for r in requests)


def test_no_sharing_prompts_are_all_distinct():
    requests = NoSharing(requests=100, prompt_words=30).generate(3)
    assert len({r.prompt_text() for r in requests}) == 100
    # Not even the first few words line up, so no prefix block can be shared by chance.
    assert len({r.prompt_text()[:40] for r in requests}) == 100


def test_dominant_prefix_share_is_roughly_respected():
    requests = DominantPrefix(requests=2000, dominant_share=0.8, minor_groups=4, context_words=5).generate(5)
    counts = Counter(r.prefix_group for r in requests)
    assert 0.75 < counts["group-0"] / 2000 < 0.85
    assert set(counts) == {f"group-{i}" for i in range(5)}


def test_multi_lora_split_follows_weights():
    requests = MultiLora(requests=3000, prompt_words=3).generate(11)
    counts = Counter(r.model for r in requests)
    assert counts["lora-hot"] > counts["lora-warm"] > counts["lora-cold"]
    assert 0.56 < counts["lora-hot"] / 3000 < 0.64
    assert 0.07 < counts["lora-cold"] / 3000 < 0.13


def test_multi_lora_rejects_non_positive_weights():
    with pytest.raises(ValueError, match="weights must be > 0"):
        MultiLora(adapters={"a": 1.0, "b": 0.0})


def test_priority_mix_sets_the_objective_header():
    spec = PriorityMix(requests=500, critical_share=0.3, critical_prompt_words=5, sheddable_prompt_words=5)
    requests = spec.generate(2)
    classes = Counter(r.priority_class for r in requests)
    assert 0.24 < classes["critical"] / 500 < 0.36
    for r in requests:
        expected = "critical" if r.priority_class == "critical" else "batch"
        assert r.headers[OBJECTIVE_HEADER] == expected


def test_body_is_a_streaming_chat_request_with_pinned_output_length():
    body = SharedPrefixChat(requests=1, context_words=5, max_tokens=17).generate(0)[0].body()
    assert body["stream"] is True and body["ignore_eos"] is True and body["max_tokens"] == 17
    assert body["stream_options"] == {"include_usage": True}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


def test_specs_parse_from_plain_config_by_kind():
    spec = WORKLOAD_ADAPTER.validate_python({"kind": "no-sharing", "requests": 5})
    assert isinstance(spec, NoSharing)
    with pytest.raises(ValueError, match="kind"):
        WORKLOAD_ADAPTER.validate_python({"kind": "nope"})
    with pytest.raises(ValueError, match="extra"):
        WORKLOAD_ADAPTER.validate_python({"kind": "no-sharing", "prompt_wrds": 5})
