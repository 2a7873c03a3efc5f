"""A request's block keys, computed chunk by chunk with each step cached, so a prefix shared by many
requests (a system prompt, a conversation so far) is tokenized and hashed once, not per request.

A step takes the chain's state before a chunk (the last key and the tokens left over from an unfinished
block) and the chunk's text, and gives the chunk's keys and the state after it. Equal prefixes reach equal
states, so their steps hit the cache; only the chunks after the first difference are computed. Cached keys
are tuples and token runs ``array('I')`` (nothing the garbage collector keeps traversing, unlike lists).
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence

from picker.kvevents.block_keys import BlockKeyHasher
from picker.tokenization.request_tokenizer import PromptSegments

_State = tuple[int, tuple[int, ...]]  # (parent key, tokens of the unfinished block)


class RequestKeyCache:
    def __init__(self, hasher: BlockKeyHasher, capacity_steps: int = 16384) -> None:
        self.hasher = hasher
        self._capacity = capacity_steps
        self._steps: OrderedDict[tuple[int, tuple[int, ...], str], tuple[tuple[int, ...], _State]] = (
            OrderedDict()
        )

    def keys(
        self,
        root: int,
        segments: PromptSegments,
        chunk_tokens: Callable[[str], Sequence[int]],
        max_blocks: int,
    ) -> list[int]:
        keys: list[int] = []
        state: _State = (root, segments.prefix_ids)
        for chunk in segments.chunks:
            step = (state[0], state[1], chunk)
            cached = self._steps.get(step)
            if cached is None:
                cached = self._advance(state, chunk_tokens(chunk))
                self._steps[step] = cached
                if len(self._steps) > self._capacity:
                    self._steps.popitem(last=False)
            else:
                self._steps.move_to_end(step)
            keys.extend(cached[0])
            state = cached[1]
            if len(keys) >= max_blocks:
                return keys[:max_blocks]
        if segments.suffix_ids:
            keys.extend(self._advance(state, segments.suffix_ids)[0])
        return keys[:max_blocks]

    def _advance(self, state: _State, tokens: Sequence[int]) -> tuple[tuple[int, ...], _State]:
        parent, carry = state
        pending = array("I", carry)
        pending.extend(tokens)  # OverflowError for an id outside 32 bits, as BlockKeyHasher.chain raises
        size = self.hasher.block_size
        full = len(pending) // size * size
        keys = tuple(self.hasher.chain(parent, pending[:full]))
        return keys, (keys[-1] if keys else parent, tuple(pending[full:]))
