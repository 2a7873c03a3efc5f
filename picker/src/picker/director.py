"""The request lifecycle behind the ext_proc stream: objective -> priority, candidates (subset hint),
admission, flow control, scheduling, pre-request hooks, in-flight accounting and response metrics.

Implements :class:`picker.request_director.RequestDirector`. Every client-visible failure leaves as a
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
from picker.framework.load import fresh_queue_estimate
from picker.framework.types import Endpoint, EndpointState, InferenceRequest, ResponseUsage, RoutingDecision
from picker.metrics import PickerMetrics

logger = logging.getLogger(__name__)

POOL_GAUGE_INTERVAL_S = 5.0  # the EPP's --refresh-prometheus-metrics-interval
POOL_GAUGE_STALENESS_S = 2.0  # the EPP's --metrics-staleness-threshold
INDEX_SIZE_INTERVAL_S = 1.0


@dataclass(slots=True)
class _RequestRecord:
    started_s: float
    model: str
    target_model: str
    endpoint_name: str | None = None
    sheddable: bool = False  # counted in the sheddable in-flight tracker too
    failed: bool = False
    body_changed: bool = False  # the engine priority was written into the body


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
        pool_gauge_interval_s: float = POOL_GAUGE_INTERVAL_S,
        pool_gauge_staleness_s: float = POOL_GAUGE_STALENESS_S,
        model_server_scheduling_policy: ModelServerSchedulingPolicy = "fcfs",
    ) -> None:
        self._model_server_scheduling_policy = model_server_scheduling_policy
        self._pool_gauge_interval_s = pool_gauge_interval_s
        self._pool_gauge_staleness_s = pool_gauge_staleness_s
        self._store = store
        self.scheduling = scheduling
        self._scheduler = scheduling.scheduler
        self._detector = detector
        self._admission = AdmissionController(detector, headroom)
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
        self._records: dict[int, _RequestRecord] = {}
        flow_config = flow_controller.config if flow_controller is not None else None
        self._max_in_flight = flow_config.max_in_flight_per_endpoint if flow_config is not None else None
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
    async def route(self, request: InferenceRequest) -> RoutingDecision:
        record = _RequestRecord(self._clock.now(), request.model, request.target_model)
        self._records[id(request)] = record
        objective_priority = self._store.known_priority_of(request.objective)
        request.priority = 0 if objective_priority is None else objective_priority
        request.body["model"] = request.target_model
        record.body_changed = write_engine_priority(
            request.body, objective_priority, self._model_server_scheduling_policy
        )
        labels = (request.model, request.target_model)
        self._metrics.request_total.labels(*labels).inc()
        self._metrics.request_sizes.labels(*labels).observe(request.body_size_bytes)
        try:
            return await self._route(request, record)
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
        record = _RequestRecord(self._clock.now(), request.model, request.target_model)
        self._records[id(request)] = record
        candidates = self._store.candidates()
        if not candidates:
            self._count_error(record, ErrorCode.INTERNAL)
            raise PickerError(ErrorCode.INTERNAL, "no ready endpoints for a request without a body")
        chosen = candidates[self._rng.randrange(len(candidates))].endpoint
        return RoutingDecision(endpoints=(chosen,), body=request.body)

    def on_response_headers(self, request: InferenceRequest, status: int, streaming: bool) -> None:
        record = self._records.get(id(request))
        if status != 200 and record is not None and not record.failed:
            self._count_error(record, ErrorCode.MODEL_SERVER_ERROR)

    def on_response_complete(
        self, request: InferenceRequest, served: Endpoint | None, usage: ResponseUsage, response_bytes: int
    ) -> None:
        record = self._records.get(id(request))
        if record is not None:
            labels = (record.model, record.target_model)
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

    def release(self, request: InferenceRequest) -> None:
        record = self._records.pop(id(request), None)
        if record is None or record.endpoint_name is None:
            return
        self._in_flight.decrement(record.endpoint_name)
        if record.sheddable:
            self._sheddable_in_flight.decrement(record.endpoint_name)
        self._metrics.running_requests.labels(record.model).dec()
        if self._flow is not None:
            self._flow.pump()  # capacity may have freed up

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
    async def _route(self, request: InferenceRequest, record: _RequestRecord) -> RoutingDecision:
        candidates = self._admission.admit(request, self._candidates_for(request))
        if self._flow is not None:
            await self._flow.acquire(
                request,
                lambda: self._has_capacity(
                    self._admission.eligible(request, self._candidates_for(request, strict=False))
                ),
            )
            try:  # the pool and the headroom may have changed while it waited
                candidates = self._admission.restrict(request, self._candidates_for(request))
            except PickerError:
                self._flow.pump()  # dispatched but not scheduled: let the next waiter go
                raise
        try:
            started_s = self._clock.now()
            result = self._scheduler.schedule(request, candidates)
            self._metrics.scheduler_e2e_duration.observe(self._clock.now() - started_s)
            for hook in self.scheduling.pre_request_hooks:
                hook.pre_request(request, result)
            endpoints = tuple(state.endpoint for state in result.primary.endpoints)
            record.endpoint_name = endpoints[0].name
            self._in_flight.increment(record.endpoint_name)
            if is_sheddable(request.priority):
                record.sheddable = True
                self._sheddable_in_flight.increment(record.endpoint_name)
        finally:
            if self._flow is not None:
                self._flow.pump()  # the next waiter's capacity check now counts this request
        self._metrics.running_requests.labels(record.model).inc()
        return RoutingDecision(endpoints=endpoints, body=request.body, body_changed=record.body_changed)

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

    def _has_capacity(self, candidates: Sequence[EndpointState]) -> bool:
        """Flow-control dispatch gate: the detector's rule, with the queue estimate corrected by this picker's
        in-flight count, so requests dispatched since the last scrape count against capacity."""
        now_s = self._clock.now()
        threshold = self._detector.config.queue_depth_threshold
        for state in candidates:
            if not self._detector.has_capacity(state, now_s) or state.metrics is None:
                continue
            in_flight = self._in_flight.count(state.endpoint.name)
            if self._max_in_flight is not None and in_flight >= self._max_in_flight:
                continue
            if fresh_queue_estimate(state.metrics, in_flight) <= threshold:
                return True
        return False

    def _count_error(self, record: _RequestRecord, code: ErrorCode) -> None:
        record.failed = True
        self._metrics.request_error_total.labels(record.model, record.target_model, code.value).inc()

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


def _strip_port(hostport: str) -> str:
    """``10.0.0.1:8000`` -> ``10.0.0.1``; ``[fd00::1]:8000`` -> ``fd00::1``; a bare IP stays as it is."""
    entry = hostport.strip()
    if entry.startswith("["):
        return entry[1 : entry.index("]")] if "]" in entry else entry.strip("[]")
    if entry.count(":") == 1:
        return entry.split(":", 1)[0]
    return entry
