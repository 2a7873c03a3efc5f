"""Data-first conformance: each YAML file under scenarios/ is one behaviour of the picker's decision core.

A scenario names a config (``default``, ``recommended`` or an inline EndpointPickerConfig), the pool
(endpoints with scraped metrics, reachability, metric age, the picker's in-flight count), objectives,
optional earlier requests (``history``, e.g. to seed prefix ownership) and one request; it expects either
the ordered endpoint list or an HTTP status. This one test runs them all through the real Director.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from picker.config import default_config, recommended_config
from picker.config.model import EndpointPickerConfig
from picker.datastore.store import EndpointStore
from picker.errors import PickerError
from picker.factory import build_director
from picker.framework.clock import FakeClock
from picker.framework.types import Endpoint, EndpointMetrics, InferenceRequest

SCENARIO_DIR = Path(__file__).parent / "scenarios"
SCENARIO_FILES = sorted(SCENARIO_DIR.glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def config_of(scenario: dict[str, Any]) -> EndpointPickerConfig:
    config = scenario.get("config", "default")
    if config == "default":
        return default_config()
    if config == "recommended":
        return recommended_config()
    return EndpointPickerConfig.model_validate(config)


def prompt_of(spec: dict[str, Any]) -> str:
    prompt = spec.get("prompt", "")
    if isinstance(prompt, dict):
        return str(prompt["repeat"]) * int(prompt["times"]) + str(prompt.get("then", ""))
    return str(prompt)


def request_of(spec: dict[str, Any], request_id: str) -> InferenceRequest:
    model = spec.get("model", "base-model")
    target = spec.get("targetModel", model)
    prompt = prompt_of(spec)
    hint = spec.get("subsetHint")
    return InferenceRequest(
        request_id=request_id,
        model=model,
        target_model=target,
        prompt_text=prompt,
        body={"model": model, "prompt": prompt},
        headers={str(k).lower(): str(v) for k, v in (spec.get("headers") or {}).items()},
        objective=spec.get("objective"),
        fairness_id=spec.get("fairnessId", "default-flow"),
        cache_salt=spec.get("cacheSalt", ""),
        subset_hint=tuple(hint) if hint is not None else None,
        body_size_bytes=len(prompt),
    )


def build_pool(scenario: dict[str, Any], clock: FakeClock) -> EndpointStore:
    store = EndpointStore()
    specs = scenario.get("endpoints") or []
    store.replace_endpoints(Endpoint(s["name"], s["address"], int(s.get("port", 8000))) for s in specs)
    for spec in specs:
        metrics = spec.get("metrics")
        if metrics is not None:
            store.update_metrics(
                spec["name"],
                EndpointMetrics(
                    waiting_queue_size=int(metrics.get("waiting", 0)),
                    running_requests=int(metrics.get("running", 0)),
                    kv_cache_usage_ratio=float(metrics.get("kv", 0.0)),
                    active_lora_adapters=frozenset(metrics.get("activeLoras", [])),
                    waiting_lora_adapters=frozenset(metrics.get("waitingLoras", [])),
                    max_active_loras=int(metrics.get("maxLoras", 0)),
                    cache_block_size_tokens=metrics.get("blockSize"),
                    updated_at_s=clock.now() - float(metrics.get("ageMs", 0)) / 1000.0,
                ),
            )
        if spec.get("reachable", True) is False:
            store.mark_unreachable(spec["name"])
    store.replace_objectives(scenario.get("objectives") or {})
    return store


def test_there_are_enough_scenarios() -> None:
    assert len(SCENARIO_FILES) >= 12


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[path.stem for path in SCENARIO_FILES])
async def test_scenario(path: Path) -> None:
    scenario = load(path)
    expect = scenario["expect"]
    clock = FakeClock()
    store = build_pool(scenario, clock)
    director = build_director(config_of(scenario), store, clock, random.Random(scenario.get("seed", 0)))
    for spec in scenario.get("endpoints") or []:
        for _ in range(int(spec.get("inFlight", 0))):
            director.in_flight.increment(spec["name"])
    for index, earlier in enumerate(scenario.get("history") or []):
        routed = await director.route(request_of(earlier, f"history-{index}"))
        if "expect" in earlier:
            assert [e.name for e in routed.decision.endpoints] == earlier["expect"], f"history[{index}]"
    request = request_of(scenario["request"], "request")
    if "status" in expect:
        with pytest.raises(PickerError) as raised:
            await director.route(request)
        assert raised.value.http_status == expect["status"]
        if "messageContains" in expect:
            assert expect["messageContains"] in raised.value.message
        return
    decision = (await director.route(request)).decision
    chosen = [endpoint.name for endpoint in decision.endpoints]
    if "endpoints" in expect:
        assert chosen == expect["endpoints"]
    if "oneOf" in expect:
        assert chosen[0] in expect["oneOf"]
    if "bodyModel" in expect:
        assert decision.body["model"] == expect["bodyModel"]
