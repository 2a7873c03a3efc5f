"""The request lifecycle behind the ext_proc stream: objective -> priority, candidates (subset hint),
admission (with flow control), scheduling, pre-request hooks, in-flight accounting and response metrics.

Implements :class:`picker.request_director.RequestDirector`: ``route`` returns a :class:`RoutedRequest` that
holds the request's in-flight share until the stream releases it. Every client-visible failure leaves as a
PickerError (its code decides the HTTP status in ``picker.errors``); nothing here touches protobufs.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

from picker.admission.admission_controller import AdmissionController, is_sheddable
from picker.admission.saturation_detector import SaturationDetector
from picker.admission.sheddable_headroom import SheddableHeadroom
from picker.config.builder import SchedulingSetup
from picker.datastore.store import EndpointStore
from picker.engine_priority import ModelServerSchedulingPolicy, write_engine_priority
from picker.errors import ErrorCode, PickerError
from picker.flowcontrol.flow_controller import FlowController
from picker.framework.clock import Clock
from picker.framework.in_flight import InFlightTracker
from picker.framework.interfaces import PrefixIndexHolder
from picker.framework.types import Endpoint, EndpointState, InferenceRequest, ResponseUsage, RoutingDecision
from picker.metrics import PickerMetrics
from picker.request_director import RoutedRequest

logger = logging.getLogger(__name__)

INDEX_SIZE_INTERVAL_S = 1.0


@dataclass(slots=True)
class _RequestRecord:
    started_s: float
    model: str
    target_model: str
    fairness_id: str
    priority: str = "0"  # a metric label value
    failed: bool = False


class _DirectedRequest(RoutedRequest):
    """A request the director scheduled to ``endpoint_name``: counted in flight until released."""

    __slots__ = ("_director", "_endpoint_name", "_record", "_request", "_sheddable")

    def __init__(
        self,
        director: Director,
        request: InferenceRequest,
        record: _RequestRecord,
        decision: RoutingDecision,
        sheddable: bool,
    ) -> None:
        super().__init__(decision)
        self._director = director
        self._request = request
        self._record = record
        self._endpoint_name = decision.endpoints[0].name
        self._sheddable = sheddable

    def response_started(self, status: int, streaming: bool) -> None:
        if status != 200 and not self._record.failed:
            self._director._count_error(self._record, ErrorCode.MODEL_SERVER_ERROR)
        self._director._response_started(self._request, streaming)

    def response_complete(self, served: Endpoint | None, usage: ResponseUsage, response_bytes: int) -> None:
        self._director._response_complete(self._request, self._record, served, usage, response_bytes)

    def _release(self) -> None:
        self._director._release(self._request, self._endpoint_name, self._sheddable, self._record)


class Director:
    """One instance per picker process; all methods run on the event loop thread."""

    def __init__(
        self,
        *,
        store: EndpointStore,
        scheduling: SchedulingSetup,
        detector: SaturationDetector,
        flow_controller: FlowController | None,
        in_flight: InFlightTracker,
        clock: Clock,
        rng: random.Random,
        metrics: PickerMetrics | None = None,
        sheddable_in_flight: InFlightTracker | None = None,
        headroom: SheddableHeadroom | None = None,
        # build_director passes these (their defaults are the picker's flags').
        pool_gauge_interval_s: float,
        pool_gauge_staleness_s: float,
        model_server_scheduling_policy: ModelServerSchedulingPolicy,
    ) -> None:
        self._model_server_scheduling_policy = model_server_scheduling_policy
        self._pool_gauge_interval_s = pool_gauge_interval_s
        self._pool_gauge_staleness_s = pool_gauge_staleness_s
        self._store = store
        self.scheduling = scheduling
        self._scheduler = scheduling.scheduler
        self._detector = detector
        self._admission = AdmissionController(
            detector, headroom, flow=flow_controller, in_flight=in_flight, clock=clock
        )
        self._flow = flow_controller
        self._in_flight = in_flight
        # Sheddable (priority < 0) requests only, from routing to release; the headroom rule reads it.
        self._sheddable_in_flight = (
            sheddable_in_flight if sheddable_in_flight is not None else InFlightTracker()
        )
        self._clock = clock
        self._rng = rng
        # Without a sink of its own the director records into an unscraped registry: no "is there a
        # metrics object" branch on the request path.
        self._metrics = metrics if metrics is not None else PickerMetrics("unscraped")
        store.add_listener(self._on_membership_change)
        current = [state.endpoint for state in store.all_endpoints()]
        for watcher in scheduling.pool_watchers:
            watcher.endpoints_changed(current, [])

    @property
    def in_flight(self) -> InFlightTracker:
        """The picker's per-endpoint in-flight counts (read-only use outside the director)."""
        return self._in_flight

    @property
    def sheddable_in_flight(self) -> InFlightTracker:
        """Per-endpoint in-flight counts of sheddable (priority < 0) requests only."""
        return self._sheddable_in_flight

    @property
    def flow_controller(self) -> FlowController | None:
        return self._flow

    # -- RequestDirector ---------------------------------------------------------------------------
    async def route(self, request: InferenceRequest) -> RoutedRequest:
        record = _RequestRecord(self._clock.now(), request.model, request.target_model, request.fairness_id)
        objective_priority = self._store.known_priority_of(request.objective)
        request.priority = 0 if objective_priority is None else objective_priority
        record.priority = str(request.priority)
        request.body["model"] = request.target_model
        body_changed = write_engine_priority(request.body, objective_priority, self._model_server_scheduling_policy)
        labels = _labels_of(record)
        self._metrics.request_total.labels(*labels).inc()
        self._metrics.request_sizes.labels(*labels).observe(request.body_size_bytes)
        try:
            return await self._route(request, record, body_changed)
        except PickerError as error:
            self._count_error(record, error.code)
            raise
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("routing request %s failed", request.request_id)
            self._count_error(record, ErrorCode.INTERNAL)
            raise PickerError(ErrorCode.INTERNAL, "internal error while scheduling") from None

    def pick_any(self, request: InferenceRequest) -> RoutingDecision:
        candidates = self._store.candidates()
        if not candidates:
            record = _RequestRecord(self._clock.now(), request.model, request.target_model, request.fairness_id)
            self._count_error(record, ErrorCode.INTERNAL)
            raise PickerError(ErrorCode.INTERNAL, "no ready endpoints for a request without a body")
        chosen = candidates[self._rng.randrange(len(candidates))].endpoint
        return RoutingDecision(endpoints=(chosen,), body=request.body)

    # -- background work ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Flow-control ticks and periodic gauges; run it as a task for the picker's lifetime."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._gauge_loop(), name="director:gauges")
            if self._flow is not None:
                group.create_task(self._flow.run(), name="director:flow-control")
            for plugin in self.scheduling.background_plugins:
                group.create_task(plugin.run_in_background(), name=f"plugin:{plugin.name}")

    def flush_gauges(self) -> None:
        """Set the prefix-index size and the pool gauges now (the background loop does it periodically)."""
        self._flush_index_size()
        self._metrics.flush_pool_gauges(
            self._store.candidates(), self._clock.now(), self._pool_gauge_staleness_s
        )

    def _flush_index_size(self) -> None:
        self._metrics.prefix_indexer_size.set(
            sum(p.index_size() for p in self.scheduling.plugins.values() if isinstance(p, PrefixIndexHolder))
        )

    # -- internals ---------------------------------------------------------------------------------
    async def _route(self, request: InferenceRequest, record: _RequestRecord, body_changed: bool) -> RoutedRequest:
        async with self._admission.admitted(request, self._candidates_for) as candidates:
            started_s = self._clock.now()
            result = self._scheduler.schedule(request, candidates)
            self._metrics.scheduler_e2e_duration.observe(self._clock.now() - started_s)
            endpoints = tuple(state.endpoint for state in result.primary.endpoints)
            decision = RoutingDecision(endpoints=endpoints, body=request.body, body_changed=body_changed)
            # Counted in flight before leaving the admission block: the next flow-control waiter sees it.
            # From here the request holds a share of the pool, so a failing pre-request hook releases it.
            routed = self._hold(request, record, decision)
            try:
                for hook in self.scheduling.pre_request_hooks:
                    hook.pre_request(request, result)
            except BaseException:
                routed.release()
                raise
        return routed

    def _hold(self, request: InferenceRequest, record: _RequestRecord, decision: RoutingDecision) -> RoutedRequest:
        sheddable = is_sheddable(request.priority)
        endpoint_name = decision.endpoints[0].name
        self._in_flight.increment(endpoint_name)
        if sheddable:
            self._sheddable_in_flight.increment(endpoint_name)
        self._metrics.running_requests.labels(*_labels_of(record)).inc()
        return _DirectedRequest(self, request, record, decision, sheddable)

    def _response_complete(
        self,
        request: InferenceRequest,
        record: _RequestRecord,
        served: Endpoint | None,
        usage: ResponseUsage,
        response_bytes: int,
    ) -> None:
        labels = _labels_of(record)
        duration_s = self._clock.now() - record.started_s
        self._metrics.request_duration.labels(*labels).observe(duration_s)
        self._metrics.response_sizes.labels(*labels).observe(response_bytes)
        if usage.prompt_tokens > 0:
            self._metrics.input_tokens.labels(*labels).observe(usage.prompt_tokens)
        if usage.completion_tokens > 0:
            self._metrics.output_tokens.labels(*labels).observe(usage.completion_tokens)
            self._metrics.normalized_time_per_output_token.labels(*labels).observe(
                duration_s / usage.completion_tokens
            )
        for hook in self.scheduling.response_complete_hooks:
            try:
                hook.response_complete(request, served, usage)
            except Exception:  # a response hook must never fail the response
                logger.exception("response hook %s failed", hook.name)

    def _response_started(self, request: InferenceRequest, streaming: bool) -> None:
        for hook in self.scheduling.response_started_hooks:
            try:
                hook.response_started(request, streaming)
            except Exception:  # a response hook must never fail the response
                logger.exception("response hook %s failed", hook.name)

    def _release(
        self, request: InferenceRequest, endpoint_name: str, sheddable: bool, record: _RequestRecord
    ) -> None:
        for hook in self.scheduling.released_hooks:
            try:
                hook.request_released(request)
            except Exception:  # releasing must finish whatever a plugin does
                logger.exception("release hook %s failed", hook.name)
        self._in_flight.decrement(endpoint_name)
        if sheddable:
            self._sheddable_in_flight.decrement(endpoint_name)
        self._metrics.running_requests.labels(*_labels_of(record)).dec()
        if self._flow is not None:
            self._flow.pump()  # capacity may have freed up

    def _candidates_for(self, request: InferenceRequest, strict: bool = True) -> Sequence[EndpointState]:
        """Reachable endpoints, narrowed to the subset hint's IPs when the data plane sent one."""
        candidates: Sequence[EndpointState] = self._store.candidates()
        hint = request.subset_hint
        if hint is not None:
            allowed = {_strip_port(entry) for entry in hint}
            candidates = [state for state in candidates if state.endpoint.address in allowed]
            if not candidates and strict:
                raise PickerError(ErrorCode.SERVICE_UNAVAILABLE, "no ready endpoint matches the subset hint")
        if not candidates and strict:
            raise PickerError(ErrorCode.SERVICE_UNAVAILABLE, "no ready endpoints in the pool")
        return candidates

    def _count_error(self, record: _RequestRecord, code: ErrorCode) -> None:
        record.failed = True
        self._metrics.request_error_total.labels(*_labels_of(record), code.value).inc()

    def _on_membership_change(self, added: list[Endpoint], removed: list[str]) -> None:
        for watcher in self.scheduling.pool_watchers:
            watcher.endpoints_changed(added, removed)
        if not removed:
            return
        self._in_flight.forget(removed)
        self._sheddable_in_flight.forget(removed)
        live = self._store.endpoint_names() - set(removed)  # a replaced endpoint starts with an empty cache
        for pruner in self.scheduling.pruners:
            pruner.prune(live)

    async def _gauge_loop(self) -> None:
        ticks_per_pool_flush = max(1, round(self._pool_gauge_interval_s / INDEX_SIZE_INTERVAL_S))
        tick = 0
        while True:
            await self._clock.sleep(INDEX_SIZE_INTERVAL_S)
            tick += 1
            if tick % ticks_per_pool_flush == 0:
                self.flush_gauges()
            else:
                self._flush_index_size()


def _labels_of(record: _RequestRecord) -> tuple[str, str, str, str]:
    """The request metrics' labels: model_name, target_model_name, fairness_id, priority."""
    return (record.model, record.target_model, record.fairness_id, record.priority)


def _strip_port(hostport: str) -> str:
    """``10.0.0.1:8000`` -> ``10.0.0.1``; ``[fd00::1]:8000`` -> ``fd00::1``; a bare IP stays as it is."""
    entry = hostport.strip()
    if entry.startswith("["):
        return entry[1 : entry.index("]")] if "]" in entry else entry.strip("[]")
    if entry.count(":") == 1:
        return entry.split(":", 1)[0]
    return entry
