"""Both EndpointPickerConfig generations through the one schema: GIE v1.1's and llm-d-router v0.10's."""

from __future__ import annotations

import logging
import random
import textwrap

import pytest
from picker.config import ConfigError, load_config_text
from picker.config.builder import build_scheduling
from picker.datastore.store import EndpointStore
from picker.factory import build_director
from picker.framework.clock import FakeClock
from picker.framework.context import PluginContext
from picker.framework.in_flight import InFlightTracker
from picker.plugins import builtin_registry

V010 = "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n"

# llm-d's optimized-baseline router config with v0.10.0's parameter names (maxTTFTPenaltyMs, not the
# removed maxTokensInFlightPenalty), plus the v0.10 sections a deployment meets.
GUIDE = V010 + textwrap.dedent(
    """\
    featureGates: [flowControl]
    plugins:
    - type: token-load-scorer
    - type: inflight-load-producer
    - type: approx-prefix-cache-producer
      parameters: {maxPrefixTokensToMatch: 40960}
    - type: prefix-cache-affinity-filter
      parameters: {affinityThreshold: 0.80, maxTTFTPenaltyMs: 18000, peakPrefillThroughput: 15928}
    - type: utilization-detector
      parameters: {queueDepthThreshold: 3, kvCacheUtilThreshold: 0.9, metricsStalenessThreshold: 500ms}
    schedulingProfiles:
    - name: default
      plugins: [{pluginRef: prefix-cache-affinity-filter}, {pluginRef: token-load-scorer}]
    flowControl:
      maxBytes: 2Gi
      defaultRequestTTL: 20s
      priorityBands:
      - {priority: 100, maxRequests: 50}
      - {priority: 0, maxRequests: 200, fairnessPolicyRef: global-strict-fairness-policy}
      saturationDetector: {pluginRef: utilization-detector}
    """
)


def build(text: str):
    context = PluginContext(FakeClock(), random.Random(0), InFlightTracker())
    return build_scheduling(load_config_text(text), builtin_registry(), context)


def rejected(text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as error:
        build(text)
    return {issue.path: issue.message for issue in error.value.issues}


def test_the_v0_10_guide_config_loads_and_drives_flow_control_and_the_detector() -> None:
    config = load_config_text(GUIDE)
    assert config.api_version == "llm-d.ai/v1alpha1" and config.flow_control_enabled
    flow = config.effective_flow_control()
    assert (flow.max_queued_requests, flow.max_queued_bytes, flow.request_ttl) == (250, 2 * 2**30, 20.0)
    detector = config.effective_saturation_detector()
    assert (detector.queue_depth_threshold, detector.kv_cache_util_threshold) == (3, 0.9)
    assert detector.metrics_staleness_threshold == 0.5
    director = build_director(config, EndpointStore(), FakeClock(), random.Random(0))
    assert director.flow_controller is not None and director.flow_controller.config.max_queued_requests == 250


def test_v0_10_flow_control_defaults_and_gate() -> None:
    config = load_config_text(
        V010 + "plugins: [{type: queue-scorer}]\nflowControl: {priorityBands: [{priority: 0}]}\n"
    )
    assert not config.flow_control_enabled  # v0.10's flowControl gate is off by default
    flow = config.effective_flow_control()
    assert (flow.max_queued_requests, flow.max_queued_bytes, flow.request_ttl) == (5000, 10**9, 60.0)
    off = load_config_text(
        V010 + "featureGates: [flowControl=true, flowControl=false]\nplugins: [{type: queue-scorer}]\n"
    )
    assert not off.flow_control_enabled  # the last entry wins
    gate_only = load_config_text(V010 + "featureGates: [flowControl]\nplugins: [{type: queue-scorer}]\n")
    flow = gate_only.effective_flow_control()  # no flowControl section: v0.10's defaults, not the project's
    assert gate_only.flow_control_enabled
    assert (flow.max_queued_requests, flow.max_queued_bytes, flow.request_ttl) == (5000, 10**9, 60.0)


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        # v0.10 removed maxTokensInFlightPenalty (PR #1547) and decodes parameters strictly.
        (
            "plugins:\n- type: prefix-cache-affinity-filter\n  parameters: {maxTokensInFlightPenalty: 286720}\n"
            "- type: approx-prefix-cache-producer\n- type: inflight-load-producer\n",
            "plugins[0].parameters.maxTokensInFlightPenalty",
            "unknown key",
        ),
        ("plugins: [{type: queue-scorer}]\nschedulerProfiles: []\n", "schedulerProfiles", "unknown key"),
        (
            "plugins: [{type: queue-scorer}]\nflowControl: {maxRequest: 5}\n",
            "flowControl.maxRequest",
            "unknown key",
        ),
        (
            "plugins: [{type: queue-scorer}]\nfeatureGates: [flowControl=yes]\n",
            "featureGates[0]",
            "must be 'name'",
        ),
        (
            "plugins: [{type: queue-scorer}]\nflowControl: {maxRequests: 5, maxQueuedRequests: 5}\n",
            "flowControl",
            "maxRequests and maxQueuedRequests",
        ),
        (
            "plugins: [{type: queue-scorer}]\nflowControl: {priorityBands: [{priority: 1}, {priority: 1}]}\n",
            "flowControl",
            "priorityBands[1].priority 1 is listed twice",
        ),
        (
            "plugins: [{type: queue-scorer}]\nflowControl: {saturationDetector: {pluginRef: mine}}\n",
            "flowControl.saturationDetector.pluginRef",
            "no plugin named 'mine'",
        ),
        (
            "plugins: [{type: queue-scorer}]\ndataLayer: {sources: [{pluginRef: metrics-data-source}]}\n",
            "dataLayer.sources[0].pluginRef",
            "no plugin named",
        ),
        (
            "plugins: [{type: utilization-detector, parameters: {kvCacheUtilThreshold: 2}}]\n",
            "plugins[0].parameters.kvCacheUtilThreshold",
            "less than 1",
        ),
        (
            "plugins: [{type: metrics-data-source, parameters: {scheme: ftp}}]\n",
            "plugins[0].parameters.scheme",
            "'http' or 'https'",
        ),
    ],
)
def test_keys_v0_10_rejects_are_rejected_naming_them(text: str, path: str, message: str) -> None:
    issues = rejected(V010 + text)
    assert message in issues[path], issues


def test_inert_v0_10_keys_are_accepted_with_one_warning_each(caplog: pytest.LogCaptureFixture) -> None:
    text = V010 + textwrap.dedent(
        """\
        featureGates: [haPopulateNonLeaderDatastore=false, someFutureGate]
        plugins:
        - type: queue-scorer
        - type: metrics-data-source
          parameters: {scheme: https}
        - type: core-metrics-extractor
        - {type: utilization-detector, parameters: {headroom: 0.2}}
        flowControl:
          enableEviction: true
          usageLimitPolicyPluginRef: static-usage-limit
          noEndpointRequestTTL: 5s
          defaultPriorityBand: {maxRequests: 10}
          priorityBands: [{priority: 1, orderingPolicyRef: edf-ordering-policy}]
        dataLayer:
          injectDefaults: true
          sources: [{pluginRef: metrics-data-source, extractors: [{pluginRef: core-metrics-extractor}]}]
        requestHandler: {parsers: []}
        """
    )
    with caplog.at_level(logging.WARNING):
        build(text)
    warned = [record.getMessage() for record in caplog.records]
    for key in (
        "featureGates[1]",
        "haPopulateNonLeaderDatastore=false",
        "flowControl: has no effect while the flowControl feature gate is off",
        "flowControl.enableEviction",
        "flowControl.usageLimitPolicyPluginRef",
        "flowControl.noEndpointRequestTTL",
        "flowControl.defaultPriorityBand",
        "flowControl.priorityBands[0].orderingPolicyRef",
        "dataLayer.injectDefaults",
        "dataLayer.sources",
        "requestHandler",
        "plugins[3].parameters.headroom",
        "parameter scheme has no effect",
    ):
        assert sum(key in message for message in warned) == 1, (key, warned)


def test_the_v1_1_form_reads_as_before_and_warns_about_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        config = load_config_text(
            "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n"
            "plugins: [{type: queue-scorer}]\nflowControl: {enabled: true, maxQueuedRequests: 7}\n"
        )
    assert config.flow_control_enabled and config.effective_flow_control().max_queued_requests == 7
    assert caplog.records == []
    assert rejected("apiVersion: llm-d.ai/v2\nkind: EndpointPickerConfig\nplugins: [{type: queue-scorer}]\n")
