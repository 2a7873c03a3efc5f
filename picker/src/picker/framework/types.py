"""Data the picker passes between its layers.

The protocol layer (``picker.server``) turns an ext_proc stream into an :class:`InferenceRequest`;
the director (``picker.director``) admits and schedules it and answers with a :class:`RoutingDecision`.
Neither side sees the other's types: the server never touches scheduling state, and nothing below the
server touches protobufs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One schedulable model-server target: a pod IP and one of the pool's target ports.

    A pod with several target ports yields several endpoints, named ``<pod>-rank-<i>`` as in the EPP.
    """

    name: str
    address: str
    port: int
    labels: Mapping[str, str] = field(default_factory=dict)
    # Written on every routed request (header and metadata) and compared on every response: built once.
    _hostport: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # IPv6 needs brackets so the port stays unambiguous.
        hostport = f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"
        object.__setattr__(self, "_hostport", hostport)

    @property
    def hostport(self) -> str:
        """The ``ip:port`` form written to ``x-gateway-destination-endpoint``."""
        return self._hostport


@dataclass(frozen=True, slots=True)
class EndpointMetrics:
    """A model server's load as last scraped (vLLM metric names in comments).

    ``updated_at_s`` is on the picker's injected clock; staleness is ``clock.now() - updated_at_s``.
    """

    waiting_queue_size: int = 0  # vllm:num_requests_waiting
    running_requests: int = 0  # vllm:num_requests_running
    kv_cache_usage_ratio: float = 0.0  # vllm:kv_cache_usage_perc (fallback vllm:gpu_cache_usage_perc), 0..1
    active_lora_adapters: frozenset[str] = frozenset()  # vllm:lora_requests_info running_lora_adapters
    waiting_lora_adapters: frozenset[str] = frozenset()  # vllm:lora_requests_info waiting_lora_adapters
    max_active_loras: int = 0  # vllm:lora_requests_info max_lora
    cache_block_size_tokens: int | None = None  # vllm:cache_config_info block_size
    num_gpu_blocks: int | None = None  # vllm:cache_config_info num_gpu_blocks (the KV cache's size in blocks)
    updated_at_s: float = 0.0


@dataclass(frozen=True, slots=True)
class EndpointState:
    """An endpoint with the metrics snapshot taken for one scheduling cycle (immutable for that cycle)."""

    endpoint: Endpoint
    metrics: EndpointMetrics | None  # None until the first successful scrape


@dataclass(slots=True)
class InferenceRequest:
    """One parsed OpenAI-style request, as the director and plugins see it.

    ``prompt_text`` is what prefix hashing reads: the completions ``prompt`` as given, or for chat the
    JSON serialisation of ``messages`` (as the EPP v1.1 does), so equal conversations hash equally.
    """

    request_id: str
    model: str  # the body's model as the client sent it
    target_model: str  # after x-gateway-model-name-rewrite; what the model server receives
    prompt_text: str
    body: dict[str, Any]  # parsed JSON body; the director sets body["model"] = target_model
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-cased, control headers removed
    objective: str | None = None  # x-gateway-inference-objective
    fairness_id: str = "default-flow"  # x-gateway-inference-fairness-id
    priority: int = 0  # filled by the director from the InferenceObjective (default 0)
    cache_salt: str = ""
    streaming: bool = False
    subset_hint: tuple[str, ...] | None = None  # envoy.lb.subset_hint; None = no hint, () = empty hint
    body_size_bytes: int = 0


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Where a request goes: ``endpoints[0]`` is the primary, the rest are fallbacks in order."""

    endpoints: tuple[Endpoint, ...]
    body: dict[str, Any]  # the body to forward (model possibly rewritten)
    body_changed: bool = False  # fields other than the model were rewritten (e.g. the engine priority)

    @property
    def destination(self) -> str:
        """Comma-separated ``ip:port`` list, the value of header and ``envoy.lb`` metadata alike."""
        return ",".join(endpoint.hostport for endpoint in self.endpoints)


@dataclass(frozen=True, slots=True)
class ResponseUsage:
    """Token usage parsed from the response (JSON ``usage`` or the last SSE chunk carrying it)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
