"""Every row of picker/README.md's llm-d-router v0.10 conformance table, checked against the code: the
table is parsed, and each item is tried the way its row's status claims it behaves."""

from __future__ import annotations

import itertools
import logging
import random
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from picker.config import ConfigError, load_config_text
from picker.config.builder import build_scheduling
from picker.fast_metrics import DualNameMetric
from picker.framework.clock import FakeClock
from picker.framework.context import PluginContext
from picker.framework.in_flight import InFlightTracker
from picker.framework.interfaces import Filter, Picker, Scorer
from picker.metrics import PickerMetrics
from picker.plugins import builtin_registry
from picker.request_parsing import parse_request_headers
from picker.server.health import LIVENESS_SERVICE, READINESS_GATED_SERVICES

README = Path(__file__).parents[3] / "picker" / "README.md"
BASE: dict[str, Any] = {
    "apiVersion": "llm-d.ai/v1alpha1",
    "kind": "EndpointPickerConfig",
    "plugins": [{"type": "queue-scorer"}, {"type": "utilization-detector"}],
}
GATED = {"featureGates": ["flowControl"]}
# One config fragment per config key the table names, merged into BASE.
CONFIG_SAMPLES: dict[str, dict[str, Any]] = {
    "apiVersion": {},
    "kind": {},
    "plugins": {},
    "schedulingProfiles": {
        "schedulingProfiles": [{"name": "default", "plugins": [{"pluginRef": "queue-scorer"}]}]
    },
    "featureGates": GATED,
    "saturationDetector": {"saturationDetector": {"queueDepthThreshold": 3}},
    "flowControl.maxRequests": {**GATED, "flowControl": {"maxRequests": 10}},
    "flowControl.maxBytes": {**GATED, "flowControl": {"maxBytes": "1Gi"}},
    "flowControl.defaultRequestTTL": {**GATED, "flowControl": {"defaultRequestTTL": "5s"}},
    "flowControl.priorityBands": {
        **GATED,
        "flowControl": {"priorityBands": [{"priority": 1, "maxRequests": 3}]},
    },
    "flowControl.saturationDetector": {
        **GATED,
        "flowControl": {"saturationDetector": {"pluginRef": "utilization-detector"}},
    },
    "flowControl.noEndpointRequestTTL": {**GATED, "flowControl": {"noEndpointRequestTTL": "5s"}},
    "flowControl.defaultPriorityBand": {**GATED, "flowControl": {"defaultPriorityBand": {"maxRequests": 9}}},
    "flowControl.defaultNegativePriorityBand": {
        **GATED,
        "flowControl": {"defaultNegativePriorityBand": {"maxRequests": 9}},
    },
    "flowControl.usageLimitPolicyPluginRef": {
        **GATED,
        "flowControl": {"usageLimitPolicyPluginRef": "static"},
    },
    "flowControl.enableEviction": {**GATED, "flowControl": {"enableEviction": True}},
    "dataLayer": {"dataLayer": {"injectDefaults": True}},
    "requestHandler": {"requestHandler": {"parsers": []}},
    "parser": {"parser": {"pluginRef": "queue-scorer"}},
    "maxTokensInFlightPenalty": {
        "plugins": [
            {"type": "prefix-cache-affinity-filter", "parameters": {"maxTokensInFlightPenalty": 286720}}
        ]
    },
    "schedulerProfiles": {"schedulerProfiles": []},
    "flowControl.maxRequest": {"flowControl": {"maxRequest": 3}},
}
REJECTED_AT = {
    "maxTokensInFlightPenalty": "plugins[0].parameters.maxTokensInFlightPenalty",
    "schedulerProfiles": "schedulerProfiles",
    "flowControl.maxRequest": "flowControl.maxRequest",
}


def table_rows() -> list[tuple[str, list[str], str]]:
    section = README.read_text().split("## llm-d-router v0.10 conformance", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("Area", "---"):
            continue
        area, items, status = cells
        claim = next(
            word for word in ("not supported", "supported", "accepted", "rejected") if status.startswith(word)
        )
        rows.append((area, re.findall(r"`([^`]*)`", items), claim))
    return rows


ROWS = table_rows()


def config_text(key: str) -> str:
    document = dict(BASE)
    for name, value in CONFIG_SAMPLES[key].items():
        document[name] = value
    return yaml.safe_dump(document)


def build(text: str) -> None:
    context = PluginContext(FakeClock(), random.Random(0), InFlightTracker())
    build_scheduling(load_config_text(text), builtin_registry(), context)


def check_config_keys(keys: list[str], status: str, caplog: pytest.LogCaptureFixture) -> None:
    for key in keys:
        text = config_text(key)
        if status == "rejected":
            with pytest.raises(ConfigError) as error:
                build(text)
            assert REJECTED_AT[key] in [issue.path for issue in error.value.issues], key
            continue
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            build(text)
        warnings = [record.getMessage() for record in caplog.records if key in record.getMessage()]
        expected = 1 if status == "accepted" else 0
        assert len(warnings) == expected, (key, status, [r.getMessage() for r in caplog.records])


def check_plugins(types: list[str], status: str) -> None:
    registry = builtin_registry()
    context = PluginContext(FakeClock(), random.Random(0), InFlightTracker())
    for plugin_type in types:
        if status == "not supported":
            assert plugin_type not in registry, plugin_type
            continue
        assert plugin_type in registry, plugin_type
        plugin = registry.create(plugin_type, plugin_type, {}, context)
        schedules = isinstance(plugin, Filter | Scorer | Picker)
        assert (
            schedules or status == "accepted" or plugin_type.endswith(("producer", "detector", "handler"))
        ), plugin_type
        if status == "accepted":
            assert not schedules, plugin_type


PRODUCER = "precise-prefix-cache-producer"
# A value per plugin parameter the table names (its last key), set in a config that has the producer.
PARAMETER_SAMPLES: dict[str, Any] = {
    "prefixMatchInfoProducerName": PRODUCER,
    "blockSizeTokens": 32,
    "blockSize": 32,
    "hashSeed": "7",
    "size": 1000,
    "podCacheSize": 3,
    "zmqEndpoint": "tcp://127.0.0.1:5999",
    "topicFilter": "kv@",
    "discoverPods": True,
    "socketPort": 5600,
    "replaySocketPort": 5601,
    "speculativeIndexing": True,
    "speculativeTTL": 3.0,
    "hashAlgorithm": "xxh64",
    "redisConfig": {"address": "redis:6379"},
    "costAwareMemoryConfig": {"size": "2GiB"},
    "enableMetrics": True,
    "kvCacheBackendConfigs": [{"name": "gpu", "weight": 1.0}],
    "concurrency": 4,
    "engineType": "vllm",
    "podLabelSelector": "llm-d.ai/inference-serving=true",
    "podNamespace": "default",
}
DEPRECATED_ALIASES = {"blockSize": "blockSizeTokens"}


def check_plugin_parameters(items: list[str], status: str) -> None:
    for item in items:
        plugin_type, *path = item.split(".")
        parameters: dict[str, Any] = {}
        node = parameters
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = PARAMETER_SAMPLES[path[-1]]
        plugins = [{"type": PRODUCER}, {"type": "max-score-picker"}, {"type": "inflight-load-producer"}]
        if plugin_type == PRODUCER:
            plugins[0]["parameters"] = parameters
        else:
            plugins.append({"type": plugin_type, "parameters": parameters})
        text = yaml.safe_dump({**BASE, "plugins": plugins})
        if status == "not supported":
            with pytest.raises(ConfigError) as error:
                build(text)
            assert any(path[-1] in issue.path for issue in error.value.issues), item
            continue
        context = PluginContext(FakeClock(), random.Random(0), InFlightTracker())
        setup = build_scheduling(load_config_text(text), builtin_registry(), context)
        plugin = setup.plugins[plugin_type]
        value: Any = plugin.parameters.model_dump(by_alias=True)  # type: ignore[attr-defined]
        for key in [*path[:-1], DEPRECATED_ALIASES.get(path[-1], path[-1])]:
            value = value[key]
        assert value == PARAMETER_SAMPLES[path[-1]], item


def check_headers(names: list[str], status: str) -> None:
    for name in names:
        parsed = parse_request_headers({name: "value-1"}, "id")
        consumed = name not in parsed.headers
        assert consumed == (status == "supported"), name
        if status == "supported":
            assert "value-1" in (parsed.objective, parsed.fairness_id, parsed.model_rewrite), name
    if status == "supported":  # the x-llm-d-* name wins when both are sent
        pairs = [
            (a, b)
            for a, b in itertools.pairwise(names)
            if a.startswith("x-llm-d-") and b.startswith("x-gateway-")
        ]
        for new, old in pairs:
            parsed = parse_request_headers({old: "old", new: "new"}, "id")
            assert "new" in (parsed.objective, parsed.fairness_id, parsed.model_rewrite)
            assert "old" not in (parsed.objective, parsed.fairness_id, parsed.model_rewrite)


def check_health(names: list[str], status: str) -> None:
    assert status == "supported"
    for name in names:
        assert (name.strip('"') if name == '""' else name) in {LIVENESS_SERVICE, *READINESS_GATED_SERVICES}


def check_metrics(names: list[str], status: str) -> None:
    metrics = PickerMetrics("pool")
    families = {family.name for family in metrics.registry.collect()}
    twins = {
        value.current._name: value.legacy._name
        for value in vars(metrics).values()
        if isinstance(value, DualNameMetric)
    }
    for name in names:
        family = name.removesuffix("_total")  # prometheus-client names a counter's family without it
        if status == "supported":
            assert family in twins, name
            assert {family, twins[family]} <= families, name
        else:
            assert family not in families, name


@pytest.mark.parametrize(("area", "items", "status"), ROWS, ids=[f"{a}: {s}" for a, _, s in ROWS])
def test_conformance_row(area: str, items: list[str], status: str, caplog: pytest.LogCaptureFixture) -> None:
    assert items, area
    if area == "config keys":
        check_config_keys(items, status, caplog)
    elif area == "plugins":
        check_plugins(items, status)
    elif area == "plugin parameters":
        check_plugin_parameters(items, status)
    elif area == "headers":
        check_headers(items, status)
    elif area == "health services":
        check_health(items, status)
    elif area == "metric families":
        check_metrics(items, status)
    else:
        raise AssertionError(f"a row with an area this test does not know: {area!r}")


def test_the_table_covers_every_sampled_config_key_and_every_area() -> None:
    keys = {item for area, items, _ in ROWS if area == "config keys" for item in items}
    assert keys == set(CONFIG_SAMPLES)
    assert {area for area, _, _ in ROWS} == {
        "config keys",
        "plugins",
        "plugin parameters",
        "headers",
        "health services",
        "metric families",
    }
