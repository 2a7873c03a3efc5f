"""The simulated inference engine: a pure, clock-driven model of vLLM's continuous-batching scheduler.

No asyncio and no clock inside: callers pass the time (the server the real clock, tests a fake one).
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from sim.engine.engine_config import EngineConfig
from sim.engine.kv_block_pool import KVBlockPool, chain_block_hashes
from sim.engine.kv_cache_events import BlocksStored, KVCacheEventSink
from sim.engine.lora_slots import LoraSlots
from sim.engine.output_length import OutputLengthSampler
from sim.engine.sequence import (
    EngineEvent,
    FinishReason,
    GenerationRequest,
    Sequence,
    SequenceFinished,
    SequenceScheduled,
    SequenceStatus,
    TokenGenerated,
)


class RequestRejected(ValueError):
    """The engine cannot take this request (too long for the context window or a duplicate id)."""


@dataclass(frozen=True, slots=True)
class EngineStats:
    num_running: int
    num_waiting: int
    kv_usage: float
    num_used_blocks: int
    num_cached_blocks: int
    running_lora_adapters: tuple[str, ...]
    waiting_lora_adapters: tuple[str, ...]
    resident_lora_adapters: tuple[str, ...]


@dataclass(slots=True)
class _Step:
    start_s: float
    end_s: float
    decoding: list[Sequence]
    prefill_chunks: list[tuple[Sequence, int]]


class Engine:
    """vLLM V1's scheduler as routing sees it: queueing, KV blocks, prefix hits, LoRA slots, step times.

    ``submit`` queues a request, ``advance(now)`` runs every engine step that has ended by ``now`` and
    returns what happened, ``next_wakeup_s`` says when to call again. Steps run back to back while there
    is work: each decodes one token for every running sequence, spends the rest of the
    ``max_num_batched_tokens`` budget on (chunked) prefill, then admits waiting sequences in arrival order
    while ``max_num_seqs``, the token budget, KV blocks and LoRA slots allow.

    KV blocks are allocated for the prompt at admission and one at a time as output grows. vLLM admits
    optimistically and preempts when decode runs out of blocks; this engine never preempts. Admission
    also sets aside the blocks each running sequence will still need, so the usage gauge shows blocks
    actually holding tokens while decode can never run dry.
    """

    def __init__(
        self, config: EngineConfig, rng: random.Random, kv_event_sink: KVCacheEventSink | None = None
    ) -> None:
        self.config = config
        self._profile = config.profile
        self._kv_event_sink = kv_event_sink
        self._pool = KVBlockPool(
            config.num_gpu_blocks, config.block_size, config.enable_prefix_caching, kv_event_sink
        )
        self._loras = LoraSlots(config.max_loras, config.profile.lora_load_s)
        self._lengths = OutputLengthSampler(
            config.profile.output_tokens_median, config.profile.output_tokens_sigma, rng
        )
        self._waiting: deque[Sequence] = deque()
        self._running: list[Sequence] = []
        self._by_id: dict[str, Sequence] = {}
        self._step: _Step | None = None
        self._time_s = -math.inf
        self._reserved_blocks = 0
        # Set when an idle engine tried a step and could run nothing (all arrivals wait for adapters).
        self._blocked = False
        self._retry_at_s: float | None = None

    # -- requests -------------------------------------------------------------------------------

    def submit(self, request: GenerationRequest, now_s: float) -> None:
        if request.request_id in self._by_id:
            raise RequestRejected(f"request id {request.request_id!r} is already in the engine")
        total = len(request.prompt_token_ids) + request.max_tokens
        if not request.prompt_token_ids or request.max_tokens < 1 or total > self.config.max_model_len:
            raise RequestRejected(
                f"request needs {len(request.prompt_token_ids)} prompt + {request.max_tokens} output tokens; "
                f"the context window is {self.config.max_model_len} and both must be at least 1"
            )
        target, natural_finish = self._lengths.sample(
            request.max_tokens, request.ignore_eos, request.min_tokens
        )
        if request.stop_at_tokens is not None and request.stop_at_tokens <= target:
            target, natural_finish = request.stop_at_tokens, FinishReason.STOP
        sequence = Sequence(
            request=request,
            arrival_s=now_s,
            target_output_tokens=target,
            natural_finish=natural_finish,
            block_hashes=chain_block_hashes(
                request.prompt_token_ids, self.config.block_size, _cache_namespace(request)
            ),
        )
        self._by_id[request.request_id] = sequence
        self._waiting.append(sequence)
        self._blocked = False

    def abort(self, request_id: str, now_s: float) -> SequenceFinished | None:
        """Drop a request wherever it is (client went away); returns its finish record if it was live."""
        sequence = self._by_id.get(request_id)
        if sequence is None:
            return None
        if sequence.status is SequenceStatus.WAITING:
            self._waiting.remove(sequence)
            self._blocked = False
        elif sequence.status is SequenceStatus.RUNNING:
            self._running.remove(sequence)
            self._free(sequence)
        return self._finish(sequence, now_s, FinishReason.ABORT)

    # -- time -----------------------------------------------------------------------------------

    def next_wakeup_s(self) -> float | None:
        """When ``advance`` next has something to do; None when idle with nothing queued."""
        if self._step is not None:
            return self._step.end_s
        return self._next_idle_start(self._time_s)

    def advance(self, now_s: float) -> list[EngineEvent]:
        events: list[EngineEvent] = []
        while True:
            if self._step is not None:
                if self._step.end_s > now_s:
                    break
                step, self._step = self._step, None
                self._complete_step(step, events)
                self._time_s = step.end_s
                self._step = self._start_step(step.end_s, events)
                continue
            start_s = self._next_idle_start(self._time_s)
            if start_s is None or start_s > now_s:
                break
            self._time_s = start_s
            self._blocked = False
            self._step = self._start_step(start_s, events)
            if self._step is None:
                self._block_until_something_changes(start_s)
        return events

    def stats(self) -> EngineStats:
        return EngineStats(
            num_running=len(self._running),
            num_waiting=len(self._waiting),
            kv_usage=self._pool.usage(),
            num_used_blocks=self._pool.num_used_blocks,
            num_cached_blocks=self._pool.num_cached_blocks,
            running_lora_adapters=_distinct(s.request.lora_name for s in self._running),
            waiting_lora_adapters=_distinct(s.request.lora_name for s in self._waiting),
            resident_lora_adapters=tuple(self._loras.resident()),
        )

    # -- scheduling -----------------------------------------------------------------------------

    def _next_idle_start(self, after_s: float) -> float | None:
        """Earliest instant >= after_s at which an idle engine (nothing running) should try a step."""
        if not self._waiting:
            return None
        if self._blocked:
            return self._retry_at_s
        return max(after_s, self._waiting[0].arrival_s)

    def _block_until_something_changes(self, now_s: float) -> None:
        """A step attempt at ``now_s`` ran nothing: wait for an adapter load or a later arrival."""
        later_arrival_s = next((s.arrival_s for s in self._waiting if s.arrival_s > now_s), None)
        options = [t for t in (later_arrival_s, self._loras.next_ready_after(now_s)) if t is not None]
        self._blocked = True
        self._retry_at_s = min(options, default=None)

    def _start_step(self, start_s: float, events: list[EngineEvent]) -> _Step | None:
        budget = self.config.max_num_batched_tokens
        decoding = [s for s in self._running if s.prefill_done]
        budget -= len(decoding)
        prefill_chunks: list[tuple[Sequence, int]] = []
        for sequence in self._running:
            if not sequence.prefill_done and budget > 0:
                chunk = min(sequence.num_prompt_tokens - sequence.num_computed_prompt_tokens, budget)
                prefill_chunks.append((sequence, chunk))
                budget -= chunk
        budget = self._admit(start_s, budget, prefill_chunks, events)
        if not decoding and not prefill_chunks:
            return None
        context_tokens = sum(s.num_tokens for s in decoding)
        duration_s = self._profile.step_time_s(
            decode_seqs=len(decoding),
            prefill_tokens=sum(chunk for _, chunk in prefill_chunks),
            context_tokens=context_tokens,
        )
        return _Step(start_s, start_s + duration_s * self.config.slowdown_factor, decoding, prefill_chunks)

    def _admit(
        self, now_s: float, budget: int, prefill_chunks: list[tuple[Sequence, int]], events: list[EngineEvent]
    ) -> int:
        in_use = {s.request.lora_name for s in self._running if s.request.lora_name}
        admitted: list[Sequence] = []
        for sequence in self._waiting:
            if sequence.arrival_s > now_s or budget <= 0:
                break
            if len(self._running) + len(admitted) >= self.config.max_num_seqs:
                break
            lora_name = sequence.request.lora_name
            if lora_name is not None:
                ready_s = self._loras.request(lora_name, now_s, in_use)
                in_use.add(lora_name)  # earlier arrivals keep their adapter against later ones
                if ready_s is None or ready_s > now_s:
                    # Like vLLM, a sequence blocked on its adapter is skipped, not a barrier to the rest.
                    continue
            if not self._allocate(sequence):
                break  # KV is first-come first-served: nobody overtakes a request waiting for blocks
            sequence.status = SequenceStatus.RUNNING
            sequence.scheduled_s = now_s
            admitted.append(sequence)
            if lora_name is not None:
                self._loras.touch(lora_name)
            chunk = min(sequence.num_prompt_tokens - sequence.num_computed_prompt_tokens, budget)
            prefill_chunks.append((sequence, chunk))
            budget -= chunk
            events.append(
                SequenceScheduled(
                    request_id=sequence.request.request_id,
                    time_s=now_s,
                    queue_time_s=now_s - sequence.arrival_s,
                    num_prompt_tokens=sequence.num_prompt_tokens,
                    num_cached_tokens=sequence.num_cached_tokens,
                    lora_name=lora_name,
                )
            )
        if admitted:
            taken = set(map(id, admitted))
            self._waiting = deque(s for s in self._waiting if id(s) not in taken)
            self._running.extend(admitted)
        return budget

    def _allocate(self, sequence: Sequence) -> bool:
        block_size = self.config.block_size
        # At least one prompt token is always computed, so the last block can never be a full hit.
        max_hit_blocks = (sequence.num_prompt_tokens - 1) // block_size
        hits = self._pool.longest_cached_prefix(sequence.block_hashes[:max_hit_blocks])
        prompt_blocks = math.ceil(sequence.num_prompt_tokens / block_size)
        final_blocks = math.ceil((sequence.num_prompt_tokens + sequence.target_output_tokens) / block_size)
        new_blocks = prompt_blocks - len(hits)
        growth = final_blocks - prompt_blocks
        needed = new_blocks + growth + self._pool.free_blocks_among(hits)
        if needed > self._pool.num_free_blocks - self._reserved_blocks:
            return False
        self._pool.acquire(hits)
        sequence.blocks = [*hits, *self._pool.allocate(new_blocks)]
        stored = [
            self._pool.register(block, block_hash)
            for block, block_hash in zip(sequence.blocks, sequence.block_hashes, strict=False)
        ]
        if self._kv_event_sink is not None:
            self._publish_stored_runs(sequence, stored)
        sequence.reserved_blocks = growth
        self._reserved_blocks += growth
        sequence.num_cached_tokens = len(hits) * block_size
        sequence.num_computed_prompt_tokens = sequence.num_cached_tokens
        return True

    def _publish_stored_runs(self, sequence: Sequence, stored: list[bool]) -> None:
        """One BlocksStored per run of consecutive newly cached blocks (vLLM emits per request and call)."""
        assert self._kv_event_sink is not None
        block_size = self.config.block_size
        request = sequence.request
        start = 0
        while start < len(stored):
            if not stored[start]:
                start += 1
                continue
            end = start
            while end < len(stored) and stored[end]:
                end += 1
            self._kv_event_sink.record(
                BlocksStored(
                    block_hashes=tuple(sequence.block_hashes[start:end]),
                    parent_block_hash=sequence.block_hashes[start - 1] if start > 0 else None,
                    token_ids=request.prompt_token_ids[start * block_size : end * block_size],
                    block_size=block_size,
                    lora_name=request.lora_name,
                    cache_salt=request.cache_salt,
                )
            )
            start = end

    def reset_prefix_cache(self) -> None:
        """Drop every cached prefix (vLLM's ``POST /reset_prefix_cache``)."""
        self._pool.reset_prefix_cache()

    # -- step completion ------------------------------------------------------------------------

    def _complete_step(self, step: _Step, events: list[EngineEvent]) -> None:
        now_s = step.end_s
        produced: list[Sequence] = []
        for sequence, chunk in step.prefill_chunks:
            if sequence.status is not SequenceStatus.RUNNING:
                continue  # aborted mid-step
            sequence.num_computed_prompt_tokens += chunk
            if sequence.prefill_done:
                sequence.first_token_s = now_s
                produced.append(sequence)
        produced.extend(s for s in step.decoding if s.status is SequenceStatus.RUNNING)
        for sequence in produced:
            sequence.num_output_tokens += 1
            self._grow(sequence)
            events.append(TokenGenerated(sequence.request.request_id, now_s, sequence.num_output_tokens))
            if sequence.num_output_tokens >= sequence.target_output_tokens:
                self._running.remove(sequence)
                self._free(sequence)
                events.append(self._finish(sequence, now_s, sequence.natural_finish))

    def _grow(self, sequence: Sequence) -> None:
        if sequence.num_tokens > len(sequence.blocks) * self.config.block_size and sequence.reserved_blocks:
            sequence.blocks.extend(self._pool.allocate(1))
            sequence.reserved_blocks -= 1
            self._reserved_blocks -= 1

    def _free(self, sequence: Sequence) -> None:
        self._pool.release(sequence.blocks)
        sequence.blocks = []
        self._reserved_blocks -= sequence.reserved_blocks
        sequence.reserved_blocks = 0

    def _finish(self, sequence: Sequence, now_s: float, reason: FinishReason) -> SequenceFinished:
        sequence.status = SequenceStatus.FINISHED
        del self._by_id[sequence.request.request_id]
        return SequenceFinished(
            request_id=sequence.request.request_id,
            time_s=now_s,
            finish_reason=reason,
            arrival_s=sequence.arrival_s,
            first_token_s=sequence.first_token_s,
            num_prompt_tokens=sequence.num_prompt_tokens,
            num_cached_tokens=sequence.num_cached_tokens,
            num_output_tokens=sequence.num_output_tokens,
        )


def _cache_namespace(request: GenerationRequest) -> str | None:
    # Different adapters compute different KV for the same tokens; a salt deliberately splits the cache.
    if request.lora_name is None and request.cache_salt is None:
        return None
    return f"{request.lora_name or ''}\x00{request.cache_salt or ''}"


def _distinct(names: Iterable[str | None]) -> tuple[str, ...]:
    """Adapter names in first-seen order, without repeats or base-model (None) entries."""
    return tuple(dict.fromkeys(name for name in names if name))
