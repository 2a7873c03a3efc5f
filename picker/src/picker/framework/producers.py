"""Data producers (llm-d-router v0.10's ``DataProducer`` plugins) and the plugins that read them.

A producer computes per-endpoint data for a request once (prefix-cache matches, in-flight load); filters
and scorers name the producer they read by its config name (``prefixMatchInfoProducerName``,
``inFlightLoadProducerName``, defaulting to the producer's type name). The builder resolves those names
after every plugin exists (:class:`ProducerConsumer`), so a missing producer is a config error at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from picker.framework.interfaces import Plugin
from picker.framework.types import EndpointState, InferenceRequest


@dataclass(frozen=True, slots=True)
class PrefixCacheMatchInfo:
    """How much of a request's prompt an endpoint probably holds: ``matched_blocks`` of ``total_blocks``
    blocks of ``block_size_tokens`` tokens (v0.10's ``PrefixCacheMatchInfo``)."""

    matched_blocks: int
    total_blocks: int
    block_size_tokens: int

    @property
    def score(self) -> float:
        """matched / total, 0 for a prompt shorter than one block."""
        return self.matched_blocks / self.total_blocks if self.total_blocks else 0.0

    @property
    def cached_tokens(self) -> int:
        return self.matched_blocks * self.block_size_tokens


NO_MATCH = PrefixCacheMatchInfo(0, 0, 1)


@dataclass(frozen=True, slots=True)
class InFlightLoad:
    """Requests and uncached prompt tokens routed to an endpoint and not released yet (v0.10's ``InFlightLoad``)."""

    requests: int = 0
    tokens: int = 0


@runtime_checkable
class PrefixMatchProducer(Plugin, Protocol):
    """Produces :class:`PrefixCacheMatchInfo` per candidate (computed once per request, then memoised)."""

    def match_info(
        self, request: InferenceRequest, endpoints: Sequence[EndpointState]
    ) -> Mapping[str, PrefixCacheMatchInfo]: ...


@runtime_checkable
class InFlightLoadProducer(Plugin, Protocol):
    """Produces :class:`InFlightLoad` per endpoint and the uncached tokens a request would add to it."""

    def load(self, endpoint_name: str) -> InFlightLoad: ...

    def request_tokens(
        self, request: InferenceRequest, endpoints: Sequence[EndpointState]
    ) -> Sequence[int]: ...


@runtime_checkable
class ProducerConsumer(Plugin, Protocol):
    """Reads a producer by name; ``bind_producers`` gets every configured plugin by name once they exist and
    raises ValueError naming the parameter when the producer it needs is missing or of the wrong kind."""

    def bind_producers(self, plugins: Mapping[str, Plugin]) -> None: ...


def _named_plugin(
    plugins: Mapping[str, Plugin], name: str, parameter: str, producer_type: str, kind: Any, produces: str
) -> Any:
    plugin = plugins.get(name)
    if plugin is None:
        raise ValueError(
            f"{parameter}: no plugin named {name!r}; add a plugin of type {producer_type!r} "
            f"(named {name!r}) or point {parameter} at one"
        )
    if not isinstance(plugin, kind):
        raise ValueError(f"{parameter}: plugin {name!r} ({plugin.plugin_type}) produces no {produces}")
    return plugin


def find_prefix_match_producer(
    plugins: Mapping[str, Plugin], name: str, producer_type: str
) -> PrefixMatchProducer:
    """The prefix producer called ``name`` (``prefixMatchInfoProducerName``), or a ValueError saying what to fix."""
    producer: PrefixMatchProducer = _named_plugin(
        plugins, name, "prefixMatchInfoProducerName", producer_type, PrefixMatchProducer, "prefix matches"
    )
    return producer


def find_in_flight_load_producer(
    plugins: Mapping[str, Plugin], name: str, producer_type: str
) -> InFlightLoadProducer:
    """The load producer called ``name`` (``inFlightLoadProducerName``), or a ValueError saying what to fix."""
    producer: InFlightLoadProducer = _named_plugin(
        plugins, name, "inFlightLoadProducerName", producer_type, InFlightLoadProducer, "in-flight load"
    )
    return producer
