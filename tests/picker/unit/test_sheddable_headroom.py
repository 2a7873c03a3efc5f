"""The sheddable headroom rule: which endpoints a sheddable request may still use, its config, and its
wiring in the director (counted from routing to release, priority >= 0 unaffected)."""

from __future__ import annotations

import asyncio
import random

import pytest
from picker.admission import AdmissionController, SaturationDetector, SheddableHeadroom
from picker.config import default_config, load_config_text
from picker.config.model import SaturationDetectorConfig, SheddableHeadroomConfig
from picker.datastore.store import EndpointStore
from picker.director import Director
from picker.errors import ErrorCode, PickerError
from picker.factory import build_director
from picker.framework.clock import FakeClock
from picker.framework.in_flight import InFlightTracker
from picker.framework.types import Endpoint, EndpointMetrics

from tests.picker.unit.builders import endpoint_state, inference_request

NOW = 1000.0
STALENESS_S = 0.2


def headroom(
    sheddable_in_flight: int = 0, in_flight: int | None = None, **config: int | None
) -> SheddableHeadroom:
    """A rule over endpoint e0 with the given picker in-flight counts (all requests default to sheddable)."""
    sheddable = InFlightTracker()
    total = InFlightTracker()
    for _ in range(sheddable_in_flight):
        sheddable.increment("e0")
    for _ in range(sheddable_in_flight if in_flight is None else in_flight):
        total.increment("e0")
    return SheddableHeadroom(
        SheddableHeadroomConfig(**config),
        sheddable_in_flight=sheddable,
        in_flight=total,
        metrics_staleness_s=STALENESS_S,
        clock=FakeClock(start_s=NOW),
    )


@pytest.mark.parametrize(
    ("config", "sheddable_in_flight", "in_flight", "metrics", "qualifies"),
    [
        ({"max_in_flight_per_endpoint": 1}, 0, None, None, True),
        ({"max_in_flight_per_endpoint": 1}, 1, None, None, False),
        ({"max_in_flight_per_endpoint": 2}, 1, 5, None, True),
        ({"queue_depth_threshold": 0}, 0, None, {"waiting_queue_size": 0, "updated_at_s": NOW}, True),
        ({"queue_depth_threshold": 0}, 0, None, {"waiting_queue_size": 1, "updated_at_s": NOW}, False),
        ({"queue_depth_threshold": 0}, 0, 3, {"running_requests": 2, "updated_at_s": NOW}, False),
        ({"queue_depth_threshold": 0}, 0, 2, {"running_requests": 2, "updated_at_s": NOW}, True),
        ({"queue_depth_threshold": 0}, 0, None, None, False),
        ({"queue_depth_threshold": 0}, 0, None, {"updated_at_s": NOW - STALENESS_S - 0.01}, False),
        (
            {"max_in_flight_per_endpoint": 1, "queue_depth_threshold": 2},
            1,
            None,
            {"updated_at_s": NOW},
            False,
        ),
        (
            {"max_in_flight_per_endpoint": 3, "queue_depth_threshold": 2},
            1,
            None,
            {"waiting_queue_size": 3, "updated_at_s": NOW},
            False,
        ),
    ],
    ids=[
        "under the cap",
        "at the cap",
        "cap counts sheddable only, not priority >= 0 in flight",
        "nothing waits",
        "something waits",
        "unscraped burst: in-flight beyond running counts as waiting",
        "in-flight all running",
        "never scraped does not qualify for the queue rule",
        "stale metrics do not qualify for the queue rule",
        "both rules: cap reached",
        "both rules: queue over threshold",
    ],
)
def test_headroom_rule(
    config: dict[str, int],
    sheddable_in_flight: int,
    in_flight: int | None,
    metrics: dict | None,
    qualifies: bool,
) -> None:
    state = endpoint_state(0) if metrics is None else endpoint_state(0, **metrics)
    rule = headroom(sheddable_in_flight, in_flight, **config)
    assert rule.has_headroom(state) is qualifies
    assert rule.eligible([state]) == ([state] if qualifies else [])


def test_config_is_off_by_default_and_in_the_epp_default_profile() -> None:
    assert not SheddableHeadroomConfig().enabled
    assert SheddableHeadroomConfig(queue_depth_threshold=0).enabled
    assert SheddableHeadroomConfig(max_in_flight_per_endpoint=4).enabled
    assert not default_config().sheddable_headroom.enabled  # the EPP drop-in stays unchanged


def test_config_keys_are_camel_case() -> None:
    config = load_config_text(
        "plugins: [{type: queue-scorer}]\nsheddableHeadroom: {maxInFlightPerEndpoint: 1, queueDepthThreshold: 0}"
    )
    assert config.sheddable_headroom == SheddableHeadroomConfig(
        max_in_flight_per_endpoint=1, queue_depth_threshold=0
    )


@pytest.mark.parametrize(
    ("priority", "eligible_names"),
    [(-1, ["e1"]), (0, ["e0", "e1"]), (10, ["e0", "e1"])],
    ids=["sheddable loses the full endpoint", "priority 0 unaffected", "critical unaffected"],
)
def test_admission_narrows_only_sheddable_requests(priority: int, eligible_names: list[str]) -> None:
    sheddable = InFlightTracker()
    sheddable.increment("e0")
    clock = FakeClock(start_s=NOW)
    rule = SheddableHeadroom(
        SheddableHeadroomConfig(max_in_flight_per_endpoint=1),
        sheddable_in_flight=sheddable,
        in_flight=InFlightTracker(),
        metrics_staleness_s=STALENESS_S,
        clock=clock,
    )
    admission = AdmissionController(SaturationDetector(SaturationDetectorConfig(), clock), rule)
    candidates = [endpoint_state(i, updated_at_s=NOW) for i in range(2)]
    admitted = admission.admit(inference_request(priority=priority), candidates)
    assert [state.endpoint.name for state in admitted] == eligible_names


def test_admission_with_no_headroom_left_is_429() -> None:
    sheddable = InFlightTracker()
    sheddable.increment("e0")
    clock = FakeClock(start_s=NOW)
    rule = SheddableHeadroom(
        SheddableHeadroomConfig(max_in_flight_per_endpoint=1),
        sheddable_in_flight=sheddable,
        in_flight=InFlightTracker(),
        metrics_staleness_s=STALENESS_S,
        clock=clock,
    )
    admission = AdmissionController(SaturationDetector(SaturationDetectorConfig(), clock), rule)
    with pytest.raises(PickerError) as raised:
        admission.admit(inference_request(priority=-1), [endpoint_state(0, updated_at_s=NOW)])
    assert raised.value.code is ErrorCode.RESOURCE_EXHAUSTED
    assert raised.value.http_status == 429
    assert "sheddableHeadroom" in raised.value.message


# -- the director ---------------------------------------------------------------------------------


def pool(clock: FakeClock, replicas: int) -> EndpointStore:
    store = EndpointStore()
    store.replace_endpoints(Endpoint(f"e{i}", f"10.0.0.{i}", 8000) for i in range(replicas))
    for index in range(replicas):
        store.update_metrics(f"e{index}", EndpointMetrics(updated_at_s=clock.now()))
    store.replace_objectives({"critical": 10, "batch": -1})
    return store


def director(clock: FakeClock, store: EndpointStore, headroom_yaml: str, flow_yaml: str = "") -> Director:
    text = f"plugins: [{{type: queue-scorer}}]\nsheddableHeadroom: {headroom_yaml}\n{flow_yaml}"
    return build_director(load_config_text(text), store, clock, random.Random(0))


async def test_director_caps_sheddable_requests_per_endpoint_until_release(fake_clock: FakeClock) -> None:
    picker = director(fake_clock, pool(fake_clock, 2), "{maxInFlightPerEndpoint: 1}")
    first, second = [await picker.route(inference_request(objective="batch", request_id=name)) for name in "ab"]
    first_destination, second_destination = first.decision.destination, second.decision.destination
    assert {first_destination, second_destination} == {"10.0.0.0:8000", "10.0.0.1:8000"}
    assert picker.sheddable_in_flight.counts() == {"e0": 1, "e1": 1}
    with pytest.raises(PickerError) as raised:
        await picker.route(inference_request(objective="batch", request_id="c"))
    assert raised.value.http_status == 429
    for index in range(4):  # priority >= 0 traffic still gets through, to any endpoint
        critical = inference_request(objective="critical", request_id=f"k{index}")
        await picker.route(critical)
    assert picker.sheddable_in_flight.counts() == {"e0": 1, "e1": 1}
    first.release()
    third = inference_request(objective="batch", request_id="d")
    assert (await picker.route(third)).decision.destination == first_destination  # the only one with headroom
    assert picker.sheddable_in_flight.total() == 2


async def test_without_the_rule_sheddable_requests_fill_every_endpoint(fake_clock: FakeClock) -> None:
    picker = build_director(default_config(), pool(fake_clock, 2), fake_clock, random.Random(0))
    for index in range(6):
        await picker.route(inference_request(objective="batch", request_id=str(index)))
    assert picker.sheddable_in_flight.total() == 6


async def test_departed_endpoint_forgets_its_sheddable_count(fake_clock: FakeClock) -> None:
    store = pool(fake_clock, 2)
    picker = director(fake_clock, store, "{maxInFlightPerEndpoint: 1}")
    await picker.route(inference_request(objective="batch"))
    store.replace_endpoints([Endpoint("e9", "10.0.0.9", 8000)])
    assert picker.sheddable_in_flight.counts() == {}


async def test_flow_control_rechecks_headroom_after_waiting(fake_clock: FakeClock) -> None:
    store = pool(fake_clock, 1)
    picker = director(
        fake_clock,
        store,
        "{maxInFlightPerEndpoint: 1}",
        "flowControl: {enabled: true, maxInFlightPerEndpoint: 1}",
    )
    critical = await picker.route(inference_request(objective="critical", request_id="k"))
    # The endpoint has sheddable headroom but no flow-control capacity: the sheddable request queues...
    waiting = asyncio.create_task(picker.route(inference_request(objective="batch", request_id="s1")))
    await asyncio.sleep(0)
    assert picker.flow_controller.queued == 1
    # ...and is dispatched when the critical request is released.
    critical.release()
    assert (await asyncio.wait_for(waiting, 1.0)).decision.destination == "10.0.0.0:8000"
    assert picker.sheddable_in_flight.counts() == {"e0": 1}
    with pytest.raises(PickerError) as raised:  # the cap now refuses the next one before it queues
        await picker.route(inference_request(objective="batch", request_id="s2"))
    assert raised.value.http_status == 429
    assert picker.flow_controller.queued == 0


async def test_headroom_taken_while_dispatched_from_the_queue_is_429(fake_clock: FakeClock) -> None:
    store = pool(fake_clock, 1)
    picker = director(
        fake_clock,
        store,
        "{maxInFlightPerEndpoint: 1}",
        "flowControl: {enabled: true, maxInFlightPerEndpoint: 1}",
    )
    critical = await picker.route(inference_request(objective="critical", request_id="k"))
    queued = asyncio.create_task(picker.route(inference_request(objective="batch", request_id="queued")))
    await asyncio.sleep(0)
    critical.release()  # dispatches the queued request, which has not resumed yet...
    await picker.route(inference_request(objective="batch", request_id="newcomer"))  # ...and loses the slot
    with pytest.raises(PickerError) as raised:
        await asyncio.wait_for(queued, 1.0)
    assert raised.value.http_status == 429
    assert picker.sheddable_in_flight.counts() == {"e0": 1}
    assert picker.flow_controller.queued == 0
