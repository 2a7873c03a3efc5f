"""``inflight-load-producer``: llm-d-router v0.10's per-endpoint in-flight requests and uncached tokens.

On routing (pre-request) the chosen endpoint is charged one request and the request's *uncached* prompt
tokens: ``prompt_tokens - cached_tokens`` where cached tokens = matched blocks x block size from the prefix
producer (``prefixMatchInfoProducerName``, default ``approx-prefix-cache-producer``; without one, nothing
is cached). With ``addEstimatedOutputTokens`` it also charges ``min(outputRatio x prompt_tokens,
max_tokens, maxEstimatedOutputTokens)`` output tokens. Prompt tokens are released at a streamed response's
headers or, for a JSON response, when the stream closes; output tokens and the request when the stream
closes. v0.10 releases prompt tokens at the first streamed chunk, which vLLM sends after prefill; the
picker has no first-chunk hook yet, and servers send the headers before prefill, so it releases earlier.
Prompt tokens are estimated as UTF-8 bytes / 4 (the EPP's estimate backend). State is per picker process,
as in v0.10 without cross-replica sync.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from picker.framework.context import PluginContext
from picker.framework.interfaces import Plugin, SchedulingResult
from picker.framework.producers import (
    InFlightLoad,
    PrefixMatchProducer,
    find_prefix_match_producer,
)
from picker.framework.registry import PluginParameters
from picker.framework.types import EndpointState, InferenceRequest
from picker.plugins.approx_prefix_cache_producer import APPROX_PREFIX_CACHE_PRODUCER_TYPE
from picker.plugins.prefix_cache_scorer import CHARS_PER_TOKEN

INFLIGHT_LOAD_PRODUCER_TYPE = "inflight-load-producer"
logger = logging.getLogger(__name__)


class InFlightLoadProducerParameters(PluginParameters):
    add_estimated_output_tokens: bool = False
    output_ratio: float = Field(default=1.5, ge=0.0)
    max_estimated_output_tokens: int | None = Field(default=None, ge=0)
    prefix_match_info_producer_name: str | None = Field(default=None, min_length=1)
    sync_cross_replica_state: bool | None = None


def estimated_prompt_tokens(request: InferenceRequest) -> int:
    """Prompt tokens estimated from the prompt text's UTF-8 length (4 bytes per token, rounded up)."""
    return -(-len(request.prompt_text.encode()) // CHARS_PER_TOKEN)


@dataclass(slots=True)
class _Charge:
    endpoint_name: str
    prompt_tokens: int
    output_tokens: int


class InFlightLoadProducerPlugin:
    """Counts per endpoint; ``load`` is what ``token-load-scorer`` and the affinity filter's TTFT gate read."""

    plugin_type = INFLIGHT_LOAD_PRODUCER_TYPE

    def __init__(
        self, parameters: InFlightLoadProducerParameters, name: str = INFLIGHT_LOAD_PRODUCER_TYPE
    ) -> None:
        self.name = name
        self.parameters = parameters
        self._prefix: PrefixMatchProducer | None = None
        self._requests: dict[str, int] = {}
        self._tokens: dict[str, int] = {}
        self._charges: dict[int, _Charge] = {}  # by request identity, as the director keys its records

    def bind_producers(self, plugins: Mapping[str, Plugin]) -> None:
        name = self.parameters.prefix_match_info_producer_name
        if name is None:  # v0.10: the approximate producer by default; absent means nothing is cached
            candidate = plugins.get(APPROX_PREFIX_CACHE_PRODUCER_TYPE)
            self._prefix = candidate if isinstance(candidate, PrefixMatchProducer) else None
            return
        self._prefix = find_prefix_match_producer(plugins, name, APPROX_PREFIX_CACHE_PRODUCER_TYPE)

    def load(self, endpoint_name: str) -> InFlightLoad:
        return InFlightLoad(self._requests.get(endpoint_name, 0), self._tokens.get(endpoint_name, 0))

    def request_tokens(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> list[int]:
        """The uncached prompt tokens this request would add to each candidate."""
        prompt = estimated_prompt_tokens(request)
        if self._prefix is None:
            return [prompt] * len(endpoints)
        info = self._prefix.match_info(request, endpoints)
        return [max(0, prompt - info[state.endpoint.name].cached_tokens) for state in endpoints]

    def pre_request(self, request: InferenceRequest, result: SchedulingResult) -> None:
        chosen = result.primary.endpoints[0]
        prompt = self.request_tokens(request, (chosen,))[0]
        output = self._estimated_output_tokens(request) if self.parameters.add_estimated_output_tokens else 0
        name = chosen.endpoint.name
        self._charges[id(request)] = _Charge(name, prompt, output)
        self._requests[name] = self._requests.get(name, 0) + 1
        self._tokens[name] = self._tokens.get(name, 0) + prompt + output

    def response_started(self, request: InferenceRequest, streaming: bool) -> None:
        charge = self._charges.get(id(request))
        if streaming and charge is not None:
            self._release_tokens(charge.endpoint_name, charge.prompt_tokens)
            charge.prompt_tokens = 0

    def request_released(self, request: InferenceRequest) -> None:
        charge = self._charges.pop(id(request), None)
        if charge is None:
            return
        self._release_tokens(charge.endpoint_name, charge.prompt_tokens + charge.output_tokens)
        remaining = self._requests.get(charge.endpoint_name, 0) - 1
        if remaining > 0:
            self._requests[charge.endpoint_name] = remaining
        else:
            self._requests.pop(charge.endpoint_name, None)

    def prune(self, live_endpoint_names: Set[str]) -> None:
        for counts in (self._requests, self._tokens):
            for name in [name for name in counts if name not in live_endpoint_names]:
                del counts[name]

    def _release_tokens(self, endpoint_name: str, tokens: int) -> None:
        remaining = self._tokens.get(endpoint_name, 0) - tokens
        if remaining > 0:
            self._tokens[endpoint_name] = remaining
        else:
            self._tokens.pop(endpoint_name, None)

    def _estimated_output_tokens(self, request: InferenceRequest) -> int:
        estimate = int(self.parameters.output_ratio * estimated_prompt_tokens(request))
        requested = request.body.get("max_completion_tokens", request.body.get("max_tokens"))
        if isinstance(requested, int) and requested >= 0:
            estimate = min(estimate, requested)
        if self.parameters.max_estimated_output_tokens is not None:
            estimate = min(estimate, self.parameters.max_estimated_output_tokens)
        return estimate


def create_inflight_load_producer(
    name: str, parameters: Mapping[str, Any], context: PluginContext
) -> InFlightLoadProducerPlugin:
    params = InFlightLoadProducerParameters.model_validate(parameters)
    if params.sync_cross_replica_state:
        logger.warning(
            "plugins %s: syncCrossReplicaState has no effect here; in-flight counts are per picker replica",
            name,
        )
    return InFlightLoadProducerPlugin(params, name)
