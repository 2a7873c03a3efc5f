"""Plugin contracts of the scheduling framework (no implementations here).

A profile runs Filters in order, then every Scorer, then one Picker. Scorers return one score per
candidate, aligned with the candidate sequence; the scheduler clamps each score to [0, 1] and applies the
profile's weight, so a scorer cannot outvote its weight. Plugins are pure with respect to I/O, never block,
and take randomness only from the injected RNG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from picker.framework.types import Endpoint, EndpointState, InferenceRequest, ResponseUsage


@dataclass(frozen=True, slots=True)
class ProfileResult:
    """The endpoints one profile picked, best first."""

    endpoints: tuple[EndpointState, ...]


@dataclass(frozen=True, slots=True)
class SchedulingResult:
    """Every profile's result; ``primary_profile`` names the one whose endpoints the request is sent to."""

    profile_results: Mapping[str, ProfileResult | None]
    primary_profile: str

    @property
    def primary(self) -> ProfileResult:
        result = self.profile_results.get(self.primary_profile)
        if result is None:
            raise LookupError(f"primary profile {self.primary_profile!r} has no result")
        return result


@runtime_checkable
class Plugin(Protocol):
    """Every plugin has a registered kebab-case ``plugin_type`` and a config ``name`` (unique per config)."""

    plugin_type: str
    name: str


@runtime_checkable
class Filter(Plugin, Protocol):
    """Keeps a subset of the candidates, in order. May return an empty sequence (the profile then fails)."""

    def filter(
        self, request: InferenceRequest, endpoints: Sequence[EndpointState]
    ) -> Sequence[EndpointState]: ...


@runtime_checkable
class Scorer(Plugin, Protocol):
    """Scores candidates in [0, 1], 1 = best, ``scores[i]`` for ``endpoints[i]``. Never raises for missing
    data: an endpoint without metrics gets the score a zero-load endpoint would get unless documented."""

    def score(self, request: InferenceRequest, endpoints: Sequence[EndpointState]) -> Sequence[float]: ...


@runtime_checkable
class Picker(Plugin, Protocol):
    """Chooses the target endpoints (primary first, then fallbacks) from the weighted totals."""

    def pick(
        self, request: InferenceRequest, endpoints: Sequence[EndpointState], scores: Sequence[float]
    ) -> tuple[EndpointState, ...]: ...


class SchedulerProfileView(Protocol):
    """What a ProfileHandler may know about a profile: its name."""

    @property
    def name(self) -> str: ...


@runtime_checkable
class ProfileHandler(Plugin, Protocol):
    """Chooses which profiles run next and folds their results into one SchedulingResult.

    ``pick_profiles`` is called repeatedly with the results so far until it returns no profile names.
    """

    def pick_profiles(
        self,
        request: InferenceRequest,
        profiles: Mapping[str, SchedulerProfileView],
        results: Mapping[str, ProfileResult | None],
    ) -> Sequence[str]: ...

    def process_results(
        self, request: InferenceRequest, results: Mapping[str, ProfileResult | None]
    ) -> SchedulingResult: ...


@runtime_checkable
class PreRequest(Plugin, Protocol):
    """Runs after scheduling, before the request is sent (e.g. recording prefix ownership)."""

    def pre_request(self, request: InferenceRequest, result: SchedulingResult) -> None: ...


@runtime_checkable
class ResponseComplete(Plugin, Protocol):
    """Runs once the response has finished."""

    def response_complete(
        self, request: InferenceRequest, served: Endpoint | None, usage: ResponseUsage
    ) -> None: ...


@runtime_checkable
class ResponseStarted(Plugin, Protocol):
    """Runs when the model server's response headers arrive (``streaming``: an SSE response has begun)."""

    def response_started(self, request: InferenceRequest, streaming: bool) -> None: ...


@runtime_checkable
class RequestReleased(Plugin, Protocol):
    """Runs once per routed request when its stream closes, whatever happened (completed, failed, aborted)."""

    def request_released(self, request: InferenceRequest) -> None: ...


@runtime_checkable
class EndpointPruner(Plugin, Protocol):
    """Holds per-endpoint state that must be dropped when endpoints leave the pool."""

    def prune(self, live_endpoint_names: Set[str]) -> None: ...


@runtime_checkable
class PoolWatcher(Plugin, Protocol):
    """Follows pool membership: told the current endpoints at start, then every change (a name both added
    and removed is an endpoint replaced in place: new address or port, empty cache)."""

    def endpoints_changed(self, added: Sequence[Endpoint], removed: Sequence[str]) -> None: ...


@runtime_checkable
class BackgroundPlugin(Plugin, Protocol):
    """Has its own long-running work (e.g. event subscriptions), run by the director until cancelled.

    ``run_in_background`` must handle its own failures: if it raises, the picker stops."""

    async def run_in_background(self) -> None: ...


@runtime_checkable
class PrefixIndexHolder(Plugin, Protocol):
    """Keeps a prefix index; its size is the EPP's ``inference_extension_prefix_indexer_size`` gauge."""

    def index_size(self) -> int: ...


@dataclass(frozen=True, slots=True)
class WeightedScorer:
    """A scorer with its profile weight; weights live outside scorers (a scorer may sit in several profiles)."""

    scorer: Scorer
    weight: float = field(default=1.0)
