"""The picker's start-up heap freeze, and the hot path's caches holding nothing the collector walks."""

from __future__ import annotations

import gc
import random

from picker.framework.types import InferenceRequest
from picker.heap import freeze_startup_heap
from picker.kvevents.block_keys import BlockKeyHasher
from picker.kvevents.request_keys import RequestKeyCache
from picker.tokenization.approximate_tokenizer import ApproximateTokenizer
from picker.tokenization.chunk_cache import ChunkCache
from picker.tokenization.request_tokenizer import RequestTokenizer


def test_objects_alive_at_startup_leave_the_collected_generations() -> None:
    built_at_startup = [[index] for index in range(100)]
    try:
        frozen = freeze_startup_heap()
        assert frozen >= len(built_at_startup)
        assert not any(item is built_at_startup for item in gc.get_objects())
        created_later = [[1]]
        assert any(item is created_later for item in gc.get_objects())
    finally:
        gc.unfreeze()


def _prompt(rng: random.Random, words: int) -> str:
    return " ".join("".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 9))) for _ in range(words))


def test_cached_tokens_and_keys_hold_nothing_the_collector_walks() -> None:
    """A cached list of ints is walked by every collection while it is cached (the decision-time tail)."""
    rng = random.Random(3)
    words = ApproximateTokenizer()
    words.encode(_prompt(rng, 300))
    chunks = ChunkCache(ApproximateTokenizer().encode, chunk_chars=64)
    chunks.encode(_prompt(rng, 300))
    tokenizer = RequestTokenizer.approximate()
    keys = RequestKeyCache(BlockKeyHasher(16))
    prompt = _prompt(rng, 600)
    request = InferenceRequest("r", "m", "m", prompt, {"model": "m", "prompt": prompt})
    assert keys.keys(0, tokenizer.segments(request), tokenizer.chunk_tokens, 1000)
    cached = [*words._words.values(), *chunks._chunks.values(), *keys._steps.values()]
    assert cached
    # Arrays, bytes and tuples of ints (untracked once the collector has seen them), never lists.
    walked = [value for value in [*cached, *(leaf for value in cached for leaf in _leaves(value))]
              if isinstance(value, list | dict | set)]
    assert walked == []


def _leaves(value: object) -> list[object]:
    """The value's referents, through nested tuples."""
    out: list[object] = []
    for referent in gc.get_referents(value):
        if isinstance(referent, type):  # an array's heap type: walked once, not per element
            continue
        out.append(referent)
        if isinstance(referent, tuple):
            out += _leaves(referent)
    return out
