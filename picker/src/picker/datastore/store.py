"""The endpoint store: pool membership, last metrics per endpoint, reachability and objective priorities.

Sources (static file, Kubernetes) write membership and objectives; the scraper writes metrics and
reachability; the director reads an immutable snapshot per scheduling cycle. Single event loop, no locks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from picker.framework.types import Endpoint, EndpointMetrics, EndpointState

# (added, removed_names) -> None; the scraper and plugin pruning subscribe to membership changes. A name in
# both lists is an endpoint replaced in place (same name, new address/port).
MembershipListener = Callable[[list[Endpoint], list[str]], None]


class EndpointStore:
    """Pool state. ``candidates()`` is O(1) to call per request and excludes unreachable endpoints."""

    def __init__(self) -> None:
        self._states: dict[str, EndpointState] = {}
        self._unreachable: set[str] = set()
        self._candidates: tuple[EndpointState, ...] | None = ()
        self._priority_by_objective: dict[str, int] = {}
        self._listeners: list[MembershipListener] = []
        self._synced = False

    # -- membership ------------------------------------------------------------------------------
    def add_listener(self, listener: MembershipListener) -> None:
        self._listeners.append(listener)

    def replace_endpoints(self, endpoints: Iterable[Endpoint]) -> None:
        """Make ``endpoints`` the whole pool; metrics of endpoints that stay (same name and address) survive."""
        wanted = {endpoint.name: endpoint for endpoint in endpoints}
        removed = [name for name in self._states if name not in wanted]
        added: list[Endpoint] = []
        for name, endpoint in wanted.items():
            current = self._states.get(name)
            if current is not None and current.endpoint == endpoint:
                continue
            if current is not None:  # same name, new address/port: old metrics describe another process
                removed.append(name)
            added.append(endpoint)
        self._apply(added, removed)

    def upsert_endpoint(self, endpoint: Endpoint) -> None:
        current = self._states.get(endpoint.name)
        if current is not None and current.endpoint == endpoint:
            return
        self._apply([endpoint], [endpoint.name] if current is not None else [])

    def remove_endpoint(self, name: str) -> None:
        if name in self._states:
            self._apply([], [name])

    def mark_synced(self) -> None:
        """The source has delivered the pool's initial state (gRPC health turns SERVING)."""
        self._synced = True

    @property
    def synced(self) -> bool:
        return self._synced

    def _apply(self, added: list[Endpoint], removed: list[str]) -> None:
        for name in removed:
            self._states.pop(name, None)
            self._unreachable.discard(name)
        for endpoint in added:
            self._states[endpoint.name] = EndpointState(endpoint=endpoint, metrics=None)
        self._candidates = None
        # A name in both lists was replaced (new address or port): listeners drop its old state first.
        if added or removed:
            for listener in self._listeners:
                listener(added, removed)

    # -- metrics and reachability ----------------------------------------------------------------
    def update_metrics(self, name: str, metrics: EndpointMetrics) -> None:
        """A successful scrape: store the metrics and put the endpoint back among the candidates."""
        state = self._states.get(name)
        if state is None:  # scrape finished after the endpoint left
            return
        self._states[name] = EndpointState(endpoint=state.endpoint, metrics=metrics)
        self._unreachable.discard(name)
        self._candidates = None

    def mark_unreachable(self, name: str) -> None:
        """A failed scrape: the endpoint leaves the candidate set until a scrape succeeds again."""
        if name in self._states and name not in self._unreachable:
            self._unreachable.add(name)
            self._candidates = None

    def is_unreachable(self, name: str) -> bool:
        return name in self._unreachable

    # -- reads -----------------------------------------------------------------------------------
    def candidates(self) -> tuple[EndpointState, ...]:
        """Reachable endpoints with their latest metrics: the snapshot one scheduling cycle works on."""
        if self._candidates is None:
            unreachable = self._unreachable
            self._candidates = tuple(state for name, state in self._states.items() if name not in unreachable)
        return self._candidates

    def all_endpoints(self) -> tuple[EndpointState, ...]:
        """Every member, reachable or not."""
        return tuple(self._states.values())

    def endpoint_names(self) -> frozenset[str]:
        return frozenset(self._states)

    def get(self, name: str) -> EndpointState | None:
        return self._states.get(name)

    # -- objectives ------------------------------------------------------------------------------
    def replace_objectives(self, priority_by_objective: Mapping[str, int]) -> None:
        self._priority_by_objective = dict(priority_by_objective)

    def upsert_objective(self, name: str, priority: int) -> None:
        self._priority_by_objective[name] = priority

    def remove_objective(self, name: str) -> None:
        self._priority_by_objective.pop(name, None)

    def priority_of(self, objective: str | None) -> int:
        """The objective's priority; 0 for no header, an unknown objective or one without priority."""
        known = self.known_priority_of(objective)
        return 0 if known is None else known

    def known_priority_of(self, objective: str | None) -> int | None:
        """The objective's priority (0 if it declares none); None for no header or an unknown objective."""
        if objective is None:
            return None
        return self._priority_by_objective.get(objective)

    def objectives(self) -> dict[str, int]:
        return dict(self._priority_by_objective)
