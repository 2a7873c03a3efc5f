"""One replica's object graph, built from a validated ``SimConfig``: engine, driver, metrics, adapters."""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import zmq

from chat_prompt import ChatTemplateError
from sim.adapter_registry import AdapterRegistry
from sim.answer_text import AnswerText
from sim.api.errors import ApiError
from sim.clock import Clock, MonotonicClock
from sim.config import SimConfig
from sim.engine import Engine, EngineEvent
from sim.engine_driver import EngineDriver
from sim.hf_tokenizer import HuggingFaceTokenizer
from sim.kv_events.batcher import KVEventBatcher
from sim.kv_events.encoding import KVEventEncoder
from sim.kv_events.publisher import ZmqEventPublisher
from sim.metrics import SimMetrics
from sim.tokenizer import ApproximateTokenizer, PromptTokenizer

if TYPE_CHECKING:
    from sim.api.schemas import ChatMessage


class InjectedFault(enum.Enum):
    ERROR = "error"  # answer with faults.error_status
    HANG = "hang"  # accept the request and never answer
    CUT = "cut"  # drop the connection (mid-stream, after faults.cut_after_tokens tokens)


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    name: str
    lora_name: str | None


class SimulatorRuntime:
    """What the routes talk to.

    It is the only place that turns a request's model name and prompt length into engine terms (adapter,
    resolved ``max_tokens``) and that draws injected faults.
    """

    def __init__(
        self,
        config: SimConfig,
        replica_name: str,
        clock: Clock | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.replica_name = replica_name
        self.clock = clock or MonotonicClock()
        self.wall_clock = wall_clock
        self.profile = config.load_profile()
        self.engine_config = config.engine_config(self.profile)
        # Separate streams per purpose, so e.g. fault draws never shift answer lengths.
        seeds = random.Random(config.seed)
        events_config = config.kv_events_config
        self.kv_events = KVEventBatcher() if events_config is not None and events_config.publishes else None
        self.engine = Engine(self.engine_config, random.Random(seeds.getrandbits(64)), self.kv_events)
        self.fault_rng = random.Random(seeds.getrandbits(64))
        self.tokenizer: PromptTokenizer = (
            HuggingFaceTokenizer.from_directory(Path(config.tokenizer))
            if config.tokenizer is not None
            else ApproximateTokenizer()
        )
        self.chat_template = config.load_chat_template()
        self.answers = AnswerText(self.tokenizer, random.Random(seeds.getrandbits(64)))
        self.adapters = AdapterRegistry(
            config.model, config.model_names, wall_clock, enabled=config.enable_lora is not False
        )
        for module in config.lora_modules:
            self.adapters.load(module.name, module.path, module.base_model_name)
        self.metrics = SimMetrics(config.model_names[0], self.engine_config, self.engine.stats, wall_clock)
        self.driver: EngineDriver | None = None
        self.started_at = int(wall_clock())

    def start(self) -> None:
        """Start the KV-event publisher (if configured) and the engine loop; needs a running event loop.

        Raises OSError when the KV-event endpoints cannot be bound or connected.
        """
        if self.kv_events is not None and self.kv_events.publisher is None:
            self.kv_events.attach(self._open_kv_event_publisher())
        self.driver = EngineDriver(self.engine, self.clock, self._on_events)
        self.driver.start()

    async def stop(self) -> None:
        if self.driver is not None:
            await self.driver.stop()
        if self.kv_events is not None:
            self.kv_events.close()

    def reset_prefix_cache(self) -> None:
        self.engine.reset_prefix_cache()
        if self.kv_events is not None:
            self.kv_events.flush()

    def _open_kv_event_publisher(self) -> ZmqEventPublisher:
        events_config = self.config.kv_events_config
        assert events_config is not None
        encoder = KVEventEncoder(self.config.kv_events_encoding, self.config.kv_events_int_block_hashes)
        try:
            return ZmqEventPublisher(events_config, encoder, self.wall_clock)
        except zmq.ZMQError as err:
            raise OSError(
                f"--kv-events-config: cannot open {events_config.endpoint} "
                f"(replay {events_config.replay_endpoint}): {err}"
            ) from err

    def _on_events(self, events: Sequence[EngineEvent]) -> None:
        self.metrics.observe(events)
        if self.kv_events is not None:
            self.kv_events.flush()

    def render_chat(self, messages: Sequence[ChatMessage], add_generation_prompt: bool) -> str:
        """The chat prompt text (vLLM's template step); a template error is the client's 400."""
        try:
            return self.chat_template.render([message.openai_json() for message in messages], add_generation_prompt)
        except ChatTemplateError as err:
            raise ApiError.bad_request(str(err), param="messages") from err

    @property
    def max_model_len(self) -> int:
        return self.engine_config.max_model_len

    def resolve_model(self, model: str | None) -> ResolvedModel:
        if not model or model in self.config.model_names:
            return ResolvedModel(model or self.config.model_names[0], None)
        if model in self.adapters:
            return ResolvedModel(model, model)
        raise ApiError.unknown_model(model)

    def resolve_max_tokens(self, num_prompt_tokens: int, requested: int | None, field: str) -> int:
        """vLLM's context-window rules: the prompt must leave room, and prompt + output must fit."""
        if num_prompt_tokens == 0:
            raise ApiError.bad_request("The prompt cannot be empty.", param="prompt")
        if num_prompt_tokens >= self.max_model_len:
            raise ApiError.bad_request(
                f"This model's maximum context length is {self.max_model_len} tokens, and the request has "
                f"{num_prompt_tokens} input tokens, which leaves no room for output. Shorten the input.",
                param="prompt",
            )
        room = self.max_model_len - num_prompt_tokens
        if requested is None:
            return room
        if requested > room:
            raise ApiError.bad_request(
                f"'{field}' is too large: {requested}. This model's maximum context length is "
                f"{self.max_model_len} tokens and the request has {num_prompt_tokens} input tokens "
                f"({requested} > {self.max_model_len} - {num_prompt_tokens}).",
                param=field,
            )
        return requested

    def draw_fault(self) -> InjectedFault | None:
        """One seeded draw per generation request decides its fault, if any."""
        faults = self.config.faults
        if faults.error_rate == faults.hang_rate == faults.cut_rate == 0:
            return None
        draw = self.fault_rng.random()
        for fault, rate in (
            (InjectedFault.ERROR, faults.error_rate),
            (InjectedFault.HANG, faults.hang_rate),
            (InjectedFault.CUT, faults.cut_rate),
        ):
            if draw < rate:
                return fault
            draw -= rate
        return None

    def injected_error(self) -> ApiError:
        return ApiError(
            self.config.faults.error_status,
            f"Injected failure on replica {self.replica_name} (fault injection).",
        )
