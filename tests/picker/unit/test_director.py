from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import pytest
from picker.config import default_config, llm_d_default_config, load_config_text, recommended_config
from picker.config.model import EndpointPickerConfig
from picker.datastore.store import EndpointStore
from picker.director import Director
from picker.errors import ErrorCode, PickerError
from picker.factory import build_director
from picker.framework.clock import FakeClock
from picker.framework.producers import InFlightLoad
from picker.framework.registry import PluginRegistry
from picker.framework.types import Endpoint, EndpointMetrics, ResponseUsage
from picker.metrics import PickerMetrics
from picker.plugins import builtin_registry
from picker.plugins.inflight_load_producer import InFlightLoadProducerPlugin

from tests.picker.unit.builders import inference_request

LONG_PROMPT = "You are a helpful assistant. Answer briefly and cite sources. " * 8


def pool(clock: FakeClock, queues: Sequence[int], **metric_fields) -> EndpointStore:
    store = EndpointStore()
    store.replace_endpoints(Endpoint(f"e{i}", f"10.0.0.{i}", 8000) for i in range(len(queues)))
    for index, queue in enumerate(queues):
        store.update_metrics(
            f"e{index}", EndpointMetrics(waiting_queue_size=queue, updated_at_s=clock.now(), **metric_fields)
        )
    store.replace_objectives({"critical": 10, "batch": -1})
    return store


def director(
    clock: FakeClock,
    store: EndpointStore,
    config: EndpointPickerConfig | None = None,
    registry: PluginRegistry | None = None,
    model_server_scheduling_policy: str = "fcfs",
) -> tuple[Director, PickerMetrics]:
    metrics = PickerMetrics("test-pool")
    built = build_director(
        config or default_config(),
        store,
        clock,
        random.Random(0),
        metrics,
        registry,
        model_server_scheduling_policy=model_server_scheduling_policy,  # type: ignore[arg-type]
    )
    return built, metrics


def sample(metrics: PickerMetrics, metric: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(metric, labels) or 0.0


async def test_routes_to_the_shortest_queue_and_rewrites_the_model(fake_clock: FakeClock) -> None:
    store = pool(fake_clock, [4, 0, 9])
    picker, metrics = director(fake_clock, store)
    request = inference_request("hi", model="llama-lora", client_model="llama")
    decision = (await picker.route(request)).decision
    assert decision.destination == "10.0.0.1:8000"
    assert decision.body["model"] == "llama-lora"
    assert (
        sample(
            metrics, "inference_objective_request_total", model_name="llama", target_model_name="llama-lora"
        )
        == 1
    )


async def test_priority_comes_from_the_objective(fake_clock: FakeClock) -> None:
    picker, _ = director(fake_clock, pool(fake_clock, [0]))
    for objective, priority in (("critical", 10), ("batch", -1), ("unknown", 0), (None, 0)):
        request = inference_request(objective=objective)
        with await picker.route(request):
            assert request.priority == priority


@pytest.mark.parametrize(
    ("objective", "client_priority", "forwarded", "changed"),
    [
        ("critical", None, -10, True),
        ("batch", None, 1, True),
        ("critical", -99, -10, True),  # the client's own value is overwritten
        (None, None, None, False),  # no objective: the body is untouched
        ("unknown", None, None, False),
        ("unknown", -99, 0, True),  # no known objective: a client value is reset to vLLM's default
    ],
)
async def test_priority_pool_gets_the_objective_priority_in_the_body(
    fake_clock: FakeClock, objective: str | None, client_priority: int | None, forwarded, changed: bool
) -> None:
    picker, _ = director(fake_clock, pool(fake_clock, [0]), model_server_scheduling_policy="priority")
    request = inference_request("hi", objective=objective)
    if client_priority is not None:
        request.body["priority"] = client_priority
    decision = (await picker.route(request)).decision
    assert decision.body.get("priority") == forwarded
    assert decision.body_changed is changed


@pytest.mark.parametrize("objective", ["critical", "batch", None])
async def test_fcfs_pool_never_gets_a_priority_field(fake_clock: FakeClock, objective: str | None) -> None:
    picker, _ = director(fake_clock, pool(fake_clock, [0]))
    decision = (await picker.route(inference_request("hi", objective=objective))).decision
    assert "priority" not in decision.body and not decision.body_changed


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (("10.0.0.2:8000",), "10.0.0.2:8000"),
        (("10.0.0.2",), "10.0.0.2:8000"),
        (("10.0.0.0:9999", "10.0.0.1:1"), None),
    ],
    ids=["hint with port matches on IP", "bare IP", "two allowed: shortest queue among them"],
)
async def test_subset_hint_restricts_candidates(fake_clock: FakeClock, hint, expected) -> None:
    picker, _ = director(fake_clock, pool(fake_clock, [3, 1, 5]))
    decision = (await picker.route(inference_request(subset_hint=hint))).decision
    assert decision.destination == (expected or "10.0.0.1:8000")


@pytest.mark.parametrize(
    ("queues", "hint"),
    [([0, 0], ()), ([0, 0], ("10.9.9.9:8000",)), ([], None)],
    ids=["empty hint", "hint matching nobody", "empty pool"],
)
async def test_no_candidates_is_503(fake_clock: FakeClock, queues, hint) -> None:
    picker, metrics = director(fake_clock, pool(fake_clock, queues))
    with pytest.raises(PickerError) as raised:
        await picker.route(inference_request(subset_hint=hint, model="m"))
    assert raised.value.http_status == 503
    labels = {"model_name": "m", "target_model_name": "m", "error_code": "ServiceUnavailable"}
    assert sample(metrics, "inference_objective_request_error_total", **labels) == 1


async def test_sheddable_request_under_saturation_is_429_others_pass(fake_clock: FakeClock) -> None:
    picker, _ = director(fake_clock, pool(fake_clock, [9, 12]))
    with pytest.raises(PickerError) as raised:
        await picker.route(inference_request(objective="batch"))
    assert raised.value.code is ErrorCode.RESOURCE_EXHAUSTED
    decision = (await picker.route(inference_request(objective="critical"))).decision
    assert decision.destination == "10.0.0.0:8000"


async def test_stale_metrics_count_as_saturated(fake_clock: FakeClock) -> None:
    picker, _ = director(fake_clock, pool(fake_clock, [0]))
    await fake_clock.advance(1.0)
    with pytest.raises(PickerError):
        await picker.route(inference_request(objective="batch"))


async def test_prefix_affinity_follows_the_first_routing(fake_clock: FakeClock) -> None:
    picker, metrics = director(fake_clock, pool(fake_clock, [0, 0, 0, 0]))
    first = (await picker.route(inference_request(LONG_PROMPT, request_id="a"))).decision
    for index in range(5):
        again = (
            await picker.route(inference_request(LONG_PROMPT + f" question {index}", request_id=f"b{index}"))
        ).decision
        assert again.destination == first.destination
    assert metrics.registry.get_sample_value("inference_extension_prefix_indexer_hit_ratio_count") == 6


async def test_in_flight_is_counted_until_release(fake_clock: FakeClock) -> None:
    picker, metrics = director(fake_clock, pool(fake_clock, [0]))
    routed = await picker.route(inference_request(model="m"))
    assert picker.in_flight.count("e0") == 1
    assert sample(metrics, "inference_objective_running_requests", model_name="m") == 1
    routed.release()
    routed.release()  # a second release gives back nothing
    assert picker.in_flight.count("e0") == 0
    assert sample(metrics, "inference_objective_running_requests", model_name="m") == 0


async def test_response_hooks_record_metrics(fake_clock: FakeClock) -> None:
    picker, metrics = director(fake_clock, pool(fake_clock, [0]))
    with await picker.route(inference_request(model="m")) as routed:
        await fake_clock.advance(0.5)
        routed.response_started(200, streaming=True)
        routed.response_complete(routed.decision.endpoints[0], ResponseUsage(12, 40), response_bytes=900)
    labels = {"model_name": "m", "target_model_name": "m"}
    assert sample(metrics, "inference_objective_request_duration_seconds_sum", **labels) == pytest.approx(0.5)
    assert sample(metrics, "inference_objective_input_tokens_sum", **labels) == 12
    assert sample(metrics, "inference_objective_output_tokens_sum", **labels) == 40
    assert sample(metrics, "inference_objective_response_sizes_sum", **labels) == 900


async def test_non_200_response_counts_as_model_server_error(fake_clock: FakeClock) -> None:
    picker, metrics = director(fake_clock, pool(fake_clock, [0]))
    routed = await picker.route(inference_request(model="m"))
    routed.response_started(503, streaming=False)
    labels = {"model_name": "m", "target_model_name": "m", "error_code": "ModelServerError"}
    assert sample(metrics, "inference_objective_request_error_total", **labels) == 1


def test_pick_any_chooses_a_ready_endpoint_or_fails_with_500(fake_clock: FakeClock) -> None:
    picker, _ = director(fake_clock, pool(fake_clock, [0, 0]))
    assert picker.pick_any(inference_request()).endpoints[0].name in {"e0", "e1"}
    empty, _ = director(fake_clock, pool(fake_clock, []))
    with pytest.raises(PickerError) as raised:
        empty.pick_any(inference_request())
    assert raised.value.http_status == 500


async def test_filter_leaving_nobody_is_429(fake_clock: FakeClock) -> None:
    config = load_config_text("plugins: [{type: header-based-testing-filter}, {type: queue-scorer}]")
    picker, _ = director(fake_clock, pool(fake_clock, [0, 0]), config)
    with pytest.raises(PickerError) as raised:
        await picker.route(inference_request())
    assert raised.value.http_status == 429
    chosen = (await picker.route(inference_request(headers={"test-epp-endpoint-selection": "10.0.0.1"}))).decision
    assert chosen.destination == "10.0.0.1:8000"


async def test_a_failing_plugin_becomes_a_500_and_the_director_keeps_working(fake_clock: FakeClock) -> None:
    class ExplodingScorer:
        plugin_type = "exploding-scorer"

        def __init__(self, name: str) -> None:
            self.name = name
            self.armed = True

        def score(self, request, endpoints):
            if self.armed:
                raise RuntimeError("boom")
            return [1.0] * len(endpoints)

    registry = builtin_registry()
    registry.register("exploding-scorer", lambda name, parameters, context: ExplodingScorer(name))
    config = load_config_text("plugins: [{type: exploding-scorer}]")
    picker, _ = director(fake_clock, pool(fake_clock, [0]), config, registry)
    with pytest.raises(PickerError) as raised:
        await picker.route(inference_request())
    assert raised.value.http_status == 500
    picker.scheduling.plugins["exploding-scorer"].armed = False
    assert (await picker.route(inference_request())).decision.destination == "10.0.0.0:8000"


async def test_a_failing_pre_request_hook_is_a_500_that_gives_back_what_routing_took(fake_clock: FakeClock) -> None:
    class ChargingHook:
        """Charges a request at pre_request and refunds it at release, then fails (like a buggy producer)."""

        plugin_type = "charging-hook"

        def __init__(self, name: str) -> None:
            self.name = name
            self.charged = 0

        def score(self, request, endpoints):
            return [1.0] * len(endpoints)

        def pre_request(self, request, result):
            self.charged += 1
            raise RuntimeError("bug after charging")

        def request_released(self, request):
            self.charged -= 1

    registry = builtin_registry()
    registry.register("charging-hook", lambda name, parameters, context: ChargingHook(name))
    picker, metrics = director(fake_clock, pool(fake_clock, [0]), load_config_text("plugins: [{type: charging-hook}]"), registry)
    with pytest.raises(PickerError) as raised:
        await picker.route(inference_request(model="m"))
    assert raised.value.http_status == 500
    assert picker.scheduling.plugins["charging-hook"].charged == 0
    assert picker.in_flight.counts() == {}
    assert sample(metrics, "inference_objective_running_requests", model_name="m") == 0


async def test_departed_endpoints_are_pruned_from_prefix_index_and_in_flight(fake_clock: FakeClock) -> None:
    store = pool(fake_clock, [0, 5])
    picker, _ = director(fake_clock, store)
    routed = await picker.route(inference_request(LONG_PROMPT))
    prefix = picker.scheduling.plugins["prefix-cache-scorer"]
    assert prefix.index_size() > 0
    store.replace_endpoints([Endpoint("e1", "10.0.0.1", 8000)])
    assert prefix.index_size() == 0
    assert picker.in_flight.count("e0") == 0
    routed.release()  # releasing a request to a departed endpoint is harmless
    assert picker.in_flight.counts() == {}


async def test_background_loop_flushes_gauges_in_virtual_time(fake_clock: FakeClock) -> None:
    store = pool(fake_clock, [3])
    picker, metrics = director(fake_clock, store)
    await picker.route(inference_request(LONG_PROMPT))
    runner = asyncio.create_task(picker.run())
    await fake_clock.advance(1.0)
    assert sample(metrics, "inference_extension_prefix_indexer_size") > 0
    assert sample(metrics, "inference_pool_ready_pods", name="test-pool") == 0  # pool gauges every 5 s
    store.update_metrics("e0", EndpointMetrics(waiting_queue_size=3, updated_at_s=fake_clock.now() + 4.0))
    await fake_clock.advance(4.0)
    assert sample(metrics, "inference_pool_ready_pods", name="test-pool") == 1
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner


async def test_an_endpoint_replaced_in_place_loses_its_prefix_ownership(fake_clock: FakeClock) -> None:
    store = pool(fake_clock, [0])
    picker, _ = director(fake_clock, store)
    await picker.route(inference_request(LONG_PROMPT))
    prefix = picker.scheduling.plugins["prefix-cache-scorer"]
    assert prefix.index_size() > 0
    store.replace_endpoints([Endpoint("e0", "10.0.0.99", 8000)])  # same pod name, new IP: a new process
    assert prefix.index_size() == 0


async def test_gauges_flush(fake_clock: FakeClock) -> None:
    picker, metrics = director(fake_clock, pool(fake_clock, [2, 4], kv_cache_usage_ratio=0.5))
    picker.flush_gauges()
    assert sample(metrics, "inference_pool_average_queue_size", name="test-pool") == 3
    assert sample(metrics, "inference_pool_average_kv_cache_utilization", name="test-pool") == 0.5
    assert sample(metrics, "inference_pool_ready_pods", name="test-pool") == 2
    assert sample(metrics, "inference_pool_per_pod_queue_size", name="test-pool", model_server_pod="e1") == 4


class TestFlowControl:
    """The recommended config queues in the picker while every candidate is saturated."""

    async def test_waits_for_capacity_then_routes(self, fake_clock: FakeClock) -> None:
        store = pool(fake_clock, [9])
        picker, metrics = director(fake_clock, store, recommended_config())
        runner = asyncio.create_task(picker.run())
        waiting = asyncio.create_task(picker.route(inference_request(request_id="w", fairness_id="tenant-a")))
        await fake_clock.advance(0.01)
        assert not waiting.done()
        assert (
            sample(
                metrics, "inference_extension_flow_control_queue_size", fairness_id="tenant-a", priority="0"
            )
            == 1
        )
        store.update_metrics("e0", EndpointMetrics(waiting_queue_size=1, updated_at_s=fake_clock.now()))
        await fake_clock.advance(0.01)
        assert (await asyncio.wait_for(waiting, 1.0)).decision.destination == "10.0.0.0:8000"
        assert (
            sample(
                metrics, "inference_extension_flow_control_queue_size", fairness_id="tenant-a", priority="0"
            )
            == 0
        )
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner

    async def test_burst_is_paced_by_in_flight_not_stale_metrics(self, fake_clock: FakeClock) -> None:
        store = pool(fake_clock, [0])
        picker, _ = director(fake_clock, store, recommended_config())
        burst = [asyncio.create_task(picker.route(inference_request(request_id=str(i)))) for i in range(10)]
        for _ in range(10):
            await asyncio.sleep(0)
        # queue threshold 5: six pass on the stale "queue 0" reading (estimates 0..5), four wait
        assert sum(task.done() for task in burst) == 6
        store.update_metrics("e0", EndpointMetrics(running_requests=6, updated_at_s=fake_clock.now()))
        picker.flow_controller.pump()
        await asyncio.wait_for(asyncio.gather(*burst), 1.0)

    async def test_sheddable_is_shed_before_queueing(self, fake_clock: FakeClock) -> None:
        picker, _ = director(fake_clock, pool(fake_clock, [9]), recommended_config())
        with pytest.raises(PickerError) as raised:
            await picker.route(inference_request(objective="batch"))
        assert raised.value.http_status == 429
        assert picker.flow_controller.queued == 0

    async def test_in_flight_cap_holds_the_next_request_until_a_release(self, fake_clock: FakeClock) -> None:
        config = load_config_text(
            "plugins: [{type: queue-scorer}]\nflowControl: {enabled: true, maxInFlightPerEndpoint: 1}"
        )
        picker, _ = director(fake_clock, pool(fake_clock, [0]), config)
        first = await picker.route(inference_request(request_id="first"))
        second = asyncio.create_task(picker.route(inference_request(request_id="second")))
        await asyncio.sleep(0)
        assert not second.done() and picker.flow_controller.queued == 1
        first.release()  # frees the slot and pumps the queue
        assert (await asyncio.wait_for(second, 1.0)).decision.destination == "10.0.0.0:8000"

    async def test_ttl_expiry_in_the_queue_is_503(self, fake_clock: FakeClock) -> None:
        config = load_config_text(
            "plugins: [{type: queue-scorer}]\nflowControl: {enabled: true, requestTtl: 2s}"
        )
        picker, metrics = director(fake_clock, pool(fake_clock, [9]), config)
        runner = asyncio.create_task(picker.run())
        waiting = asyncio.create_task(picker.route(inference_request(model="m")))
        await fake_clock.advance(2.5)
        with pytest.raises(PickerError) as raised:
            await waiting
        assert raised.value.http_status == 503
        labels = {"model_name": "m", "target_model_name": "m", "error_code": "ServiceUnavailable"}
        assert sample(metrics, "inference_objective_request_error_total", **labels) == 1
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner

    async def test_client_disconnect_removes_the_waiter(self, fake_clock: FakeClock) -> None:
        picker, _ = director(fake_clock, pool(fake_clock, [9]), recommended_config())
        waiting = asyncio.create_task(picker.route(inference_request()))
        await asyncio.sleep(0)
        assert picker.flow_controller.queued == 1
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert picker.flow_controller.queued == 0


async def test_pool_watchers_see_membership_and_background_plugins_run(fake_clock: FakeClock) -> None:
    class WatchingScorer:
        plugin_type = "watching-scorer"

        def __init__(self, name: str) -> None:
            self.name = name
            self.changes: list[tuple[list[str], list[str]]] = []
            self.started = asyncio.Event()

        def score(self, request, endpoints):
            return [0.0] * len(endpoints)

        def endpoints_changed(self, added, removed) -> None:
            self.changes.append(([endpoint.name for endpoint in added], list(removed)))

        async def run_in_background(self) -> None:
            self.started.set()
            await asyncio.Event().wait()

    registry = builtin_registry()
    registry.register("watching-scorer", lambda name, parameters, context: WatchingScorer(name))
    store = pool(fake_clock, [0, 1])
    picker, _ = director(fake_clock, store, load_config_text("plugins: [{type: watching-scorer}]"), registry)
    watcher = picker.scheduling.plugins["watching-scorer"]
    assert watcher.changes == [(["e0", "e1"], [])]  # the pool as it was when the director was built
    store.replace_endpoints([Endpoint("e1", "10.0.0.1", 8000), Endpoint("e2", "10.0.0.2", 8000)])
    assert watcher.changes[-1] == (["e2"], ["e0"])
    runner = asyncio.create_task(picker.run())
    await asyncio.wait_for(watcher.started.wait(), timeout=5)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner


async def test_the_llm_d_default_profile_charges_and_releases_in_flight_tokens(fake_clock: FakeClock) -> None:
    picker, _ = director(fake_clock, pool(fake_clock, [0, 0]), llm_d_default_config())
    load = picker.scheduling.plugins["inflight-load-producer"]
    assert isinstance(load, InFlightLoadProducerPlugin)
    prompt = LONG_PROMPT * 4  # ~2k characters, ~500 estimated tokens
    streamed = await picker.route(inference_request(prompt, request_id="s"))
    held = await picker.route(inference_request(prompt + " again", request_id="j"))
    assert held.decision.destination == streamed.decision.destination  # sticky: the prefix is there
    name = streamed.decision.endpoints[0].name
    assert load.load(name).requests == 2 and load.load(name).tokens > 0
    streamed.response_started(200, streaming=True)  # prefill over: its prompt tokens leave
    held.response_started(200, streaming=False)
    charged_by_the_json_request = load.load(name).tokens
    streamed.release()
    assert load.load(name) == InFlightLoad(requests=1, tokens=charged_by_the_json_request)
    held.release()
    assert load.load(name) == InFlightLoad(requests=0, tokens=0)
