"""The simulated inference engine: a pure, clock-driven model of vLLM's continuous-batching scheduler.

No asyncio and no clock inside: callers pass the time (the server the real clock, tests a fake one).
"""

from __future__ import annotations

import itertools
import math
import random
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
    SequencePreempted,
    SequenceResumed,
    SequenceScheduled,
    SequenceStatus,
    TokenGenerated,
)
from sim.engine.waiting_queue import waiting_queue


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
    scheduled: dict[Sequence, int]  # sequence -> tokens it computes in this step


class Engine:
    """vLLM V1's scheduler as routing sees it: queueing, KV blocks, preemption, prefix hits, LoRA slots.

    ``submit`` queues a request, ``advance(now)`` runs every engine step that has ended by ``now`` and
    returns what happened, ``next_wakeup_s`` says when to call again. Steps run back to back while there
    is work. Each step is scheduled as vLLM V1's ``Scheduler.schedule`` does:

    1. Running sequences, in the order they were admitted, each get the tokens they still need (the
       prompt in chunks, then one per step) within the ``max_num_batched_tokens`` budget, and the KV
       blocks those tokens need. When the blocks are not there, a running sequence is preempted (under
       ``fcfs`` the last admitted; under ``priority`` the one with the largest (priority, arrival), so
       the lowest priority and the latest arrival) until they are, or until the sequence itself is the
       one preempted. A preempted sequence loses its KV (its blocks go back to the pool, where their
       cached prefix may survive) and returns to the waiting queue, to be recomputed.
    2. Only if nothing was preempted, waiting sequences are admitted in queue order (arrival under
       ``fcfs``; (priority, arrival) under ``priority``) while ``max_num_seqs``, the token budget and KV
       blocks allow. A waiting sequence that cannot get blocks stops admission: waiting requests never
       preempt running ones, whatever their priority. One waiting for its LoRA adapter is skipped.

    KV blocks are allocated only for the tokens scheduled (admission is optimistic, as in vLLM), so the
    usage gauge shows blocks actually holding tokens, and decode may run out of blocks: that is where
    preemption comes from.
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
        self._waiting = waiting_queue(config.scheduling_policy)
        self._running: list[Sequence] = []
        self._by_id: dict[str, Sequence] = {}
        self._arrivals = itertools.count()
        self._step: _Step | None = None
        self._time_s = -math.inf
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
            arrival_order=next(self._arrivals),
        )
        self._by_id[request.request_id] = sequence
        self._waiting.add(sequence)
        self._blocked = False

    def abort(self, request_id: str, now_s: float) -> SequenceFinished | None:
        """Drop a request wherever it is (client went away); returns its finish record if it was live."""
        sequence = self._by_id.get(request_id)
        if sequence is None:
            return None
        if sequence.status in (SequenceStatus.WAITING, SequenceStatus.PREEMPTED):
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
            preempted_before = len(events)
            self._step = self._start_step(start_s, events)
            if self._step is None and not any(
                isinstance(event, SequencePreempted) for event in events[preempted_before:]
            ):
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
        """Earliest instant >= after_s at which an idle engine should try a step."""
        if self._blocked:
            return self._retry_at_s
        if self._running:
            return after_s  # a step that only preempted: schedule again at once
        if not self._waiting:
            return None
        return max(after_s, min(s.arrival_s for s in self._waiting))

    def _block_until_something_changes(self, now_s: float) -> None:
        """A step attempt at ``now_s`` ran nothing: wait for an adapter load or a later arrival."""
        later_arrival_s = min((s.arrival_s for s in self._waiting if s.arrival_s > now_s), default=None)
        options = [t for t in (later_arrival_s, self._loras.next_ready_after(now_s)) if t is not None]
        self._blocked = True
        self._retry_at_s = min(options, default=None)

    def _start_step(self, start_s: float, events: list[EngineEvent]) -> _Step | None:
        budget = self.config.max_num_batched_tokens
        scheduled: dict[Sequence, int] = {}
        preempted = False
        index = 0
        # vLLM's running loop, index arithmetic included: removing an already-scheduled victim shifts
        # the list, and vLLM does not step back for it.
        while index < len(self._running) and budget > 0:
            sequence = self._running[index]
            num_new = min(sequence.num_tokens - sequence.num_computed_tokens, budget)
            while not self._allocate_slots(sequence, num_new):
                victim = self._preemption_victim()
                self._running.remove(victim)
                if victim in scheduled:
                    budget += scheduled.pop(victim)
                self._preempt(victim, start_s, events)
                preempted = True
                if victim is sequence:
                    break
            if sequence.status is not SequenceStatus.RUNNING:
                break  # nothing left to preempt for it
            scheduled[sequence] = num_new
            budget -= num_new
            index += 1
        if not preempted:
            self._admit(start_s, budget, scheduled, events)
        if not scheduled:
            return None
        decoding = [s for s in scheduled if s.is_decoding]
        duration_s = self._profile.step_time_s(
            decode_seqs=len(decoding),
            prefill_tokens=sum(n for s, n in scheduled.items() if not s.is_decoding),
            context_tokens=sum(s.num_tokens for s in decoding),
        )
        return _Step(start_s, start_s + duration_s * self.config.slowdown_factor, scheduled)

    def _preemption_victim(self) -> Sequence:
        if self.config.scheduling_policy == "priority":
            # max() keeps the first of equals, as vLLM's does.
            return max(self._running, key=lambda s: (s.request.priority, s.arrival_s))
        return self._running[-1]

    def _preempt(self, sequence: Sequence, now_s: float, events: list[EngineEvent]) -> None:
        events.append(SequencePreempted(sequence.request.request_id, now_s, sequence.num_computed_tokens))
        sequence.num_lost_tokens = sequence.num_computed_tokens
        self._free(sequence)
        sequence.status = SequenceStatus.PREEMPTED
        sequence.num_computed_tokens = 0
        sequence.num_preemptions += 1
        self._waiting.prepend(sequence)

    def _admit(
        self, now_s: float, budget: int, scheduled: dict[Sequence, int], events: list[EngineEvent]
    ) -> None:
        in_use = {s.request.lora_name for s in self._running if s.request.lora_name}
        skipped: list[Sequence] = []
        while len(self._waiting) and budget > 0:
            if len(self._running) >= self.config.max_num_seqs:
                break
            sequence = self._waiting.peek()
            if sequence.arrival_s > now_s:
                skipped.append(self._waiting.pop())  # not arrived yet at this step's start
                continue
            lora_name = sequence.request.lora_name
            if lora_name is not None:
                ready_s = self._loras.request(lora_name, now_s, in_use)
                in_use.add(lora_name)  # earlier sequences keep their adapter against later ones
                if ready_s is None or ready_s > now_s:
                    # Like vLLM, a sequence blocked on its adapter is skipped, not a barrier to the rest.
                    skipped.append(self._waiting.pop())
                    continue
            num_new = self._allocate_new(sequence, budget)
            if num_new is None:
                break  # waiting sequences never preempt: nobody overtakes one waiting for blocks
            self._waiting.pop()
            self._running.append(sequence)
            resumed = sequence.status is SequenceStatus.PREEMPTED
            sequence.status = SequenceStatus.RUNNING
            if lora_name is not None:
                self._loras.touch(lora_name)
            scheduled[sequence] = num_new
            budget -= num_new
            request_id = sequence.request.request_id
            if resumed:
                events.append(
                    SequenceResumed(
                        request_id=request_id,
                        time_s=now_s,
                        num_cached_tokens=sequence.num_computed_tokens,
                        num_recomputed_tokens=max(0, sequence.num_lost_tokens - sequence.num_computed_tokens),
                    )
                )
                continue
            sequence.scheduled_s = now_s
            sequence.num_cached_tokens = sequence.num_computed_tokens
            events.append(
                SequenceScheduled(
                    request_id=request_id,
                    time_s=now_s,
                    queue_time_s=now_s - sequence.arrival_s,
                    num_prompt_tokens=sequence.num_prompt_tokens,
                    num_cached_tokens=sequence.num_cached_tokens,
                    lora_name=lora_name,
                )
            )
        self._waiting.prepend_all(skipped)

    def _allocate_new(self, sequence: Sequence, budget: int) -> int | None:
        """Take the cached prefix and blocks for the first chunk; the chunk's size, or None if KV is short."""
        block_size = self.config.block_size
        # At least one token is always computed, so the last block can never be a full hit.
        max_hit_blocks = (sequence.num_tokens - 1) // block_size
        hits = self._pool.longest_cached_prefix(sequence.block_hashes[:max_hit_blocks])
        num_computed = len(hits) * block_size
        num_new = min(sequence.num_tokens - num_computed, budget)
        new_blocks = math.ceil((num_computed + num_new) / block_size) - len(hits)
        if new_blocks + self._pool.free_blocks_among(hits) > self._pool.num_free_blocks:
            return None
        self._pool.acquire(hits)
        sequence.blocks = [*hits, *self._pool.allocate(new_blocks)]
        sequence.num_computed_tokens = num_computed
        sequence.num_registered_blocks = len(hits)
        self._register_full_blocks(sequence, num_computed + num_new)
        return num_new

    def _allocate_slots(self, sequence: Sequence, num_new: int) -> bool:
        """Blocks for a running sequence's next ``num_new`` tokens; False when the pool is short."""
        num_tokens = sequence.num_computed_tokens + num_new
        missing = math.ceil(num_tokens / self.config.block_size) - len(sequence.blocks)
        if missing > self._pool.num_free_blocks:
            return False
        if missing > 0:
            sequence.blocks.extend(self._pool.allocate(missing))
        self._register_full_blocks(sequence, num_tokens)
        return True

    def _register_full_blocks(self, sequence: Sequence, num_tokens: int) -> None:
        """Publish the prompt blocks ``num_tokens`` fill, as vLLM caches full blocks when it schedules them.

        Only prompt blocks are cached: output tokens have no ids here (vLLM caches those too).
        """
        first = sequence.num_registered_blocks
        full_blocks = min(num_tokens // self.config.block_size, len(sequence.block_hashes))
        if full_blocks <= first:
            return
        stored = [
            self._pool.register(sequence.blocks[index], sequence.block_hashes[index])
            for index in range(first, full_blocks)
        ]
        sequence.num_registered_blocks = full_blocks
        if self._kv_event_sink is not None:
            self._publish_stored_runs(sequence, first, stored)

    def _publish_stored_runs(self, sequence: Sequence, first: int, stored: list[bool]) -> None:
        """One BlocksStored per run of consecutive newly cached blocks (vLLM emits per request and call);
        ``stored[i]`` says whether block ``first + i`` was newly cached."""
        assert self._kv_event_sink is not None
        block_size = self.config.block_size
        request = sequence.request
        offset = 0
        while offset < len(stored):
            if not stored[offset]:
                offset += 1
                continue
            end = offset
            while end < len(stored) and stored[end]:
                end += 1
            start, stop = first + offset, first + end
            self._kv_event_sink.record(
                BlocksStored(
                    block_hashes=tuple(sequence.block_hashes[start:stop]),
                    parent_block_hash=sequence.block_hashes[start - 1] if start > 0 else None,
                    token_ids=request.prompt_token_ids[start * block_size : stop * block_size],
                    block_size=block_size,
                    lora_name=request.lora_name,
                    cache_salt=request.cache_salt,
                )
            )
            offset = end

    def reset_prefix_cache(self) -> None:
        """Drop every cached prefix (vLLM's ``POST /reset_prefix_cache``)."""
        self._pool.reset_prefix_cache()

    # -- step completion ------------------------------------------------------------------------

    def _complete_step(self, step: _Step, events: list[EngineEvent]) -> None:
        now_s = step.end_s
        for sequence, num_new in step.scheduled.items():
            if sequence.status is not SequenceStatus.RUNNING:
                continue  # aborted mid-step
            sequence.num_computed_tokens += num_new
            if sequence.num_computed_tokens < sequence.num_tokens:
                continue  # a prefill chunk: nothing sampled yet
            sequence.num_output_tokens += 1
            if sequence.first_token_s is None:
                sequence.first_token_s = now_s
            events.append(TokenGenerated(sequence.request.request_id, now_s, sequence.num_output_tokens))
            if sequence.num_output_tokens >= sequence.target_output_tokens:
                self._running.remove(sequence)
                self._free(sequence)
                events.append(self._finish(sequence, now_s, sequence.natural_finish))

    def _free(self, sequence: Sequence) -> None:
        self._pool.release(sequence.blocks)
        sequence.blocks = []
        sequence.num_registered_blocks = 0

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
            num_preemptions=sequence.num_preemptions,
        )


def _cache_namespace(request: GenerationRequest) -> str | None:
    # Different adapters compute different KV for the same tokens; a salt deliberately splits the cache.
    if request.lora_name is None and request.cache_salt is None:
        return None
    return f"{request.lora_name or ''}\x00{request.cache_salt or ''}"


def _distinct(names: Iterable[str | None]) -> tuple[str, ...]:
    """Adapter names in first-seen order, without repeats or base-model (None) entries."""
    return tuple(dict.fromkeys(name for name in names if name))
