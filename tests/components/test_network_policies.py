"""The pool NetworkPolicies: who may reach the picker's ports and the model servers, checked on the
typed Args (rendered to their wire shape), plus the input validation."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi._types import input_type_to_dict

from components.specs.network_policies import (
    GOOGLE_HEALTH_CHECK_RANGES,
    PoolNetworkPolicyInputs,
    model_server_network_policy,
    picker_network_policy,
    pool_network_policies,
)

PROXY_RANGES = ("10.129.0.0/23", "10.130.0.0/23")


def _inputs(**overrides: Any) -> PoolNetworkPolicyInputs:
    fields: dict[str, Any] = {
        "pool_name": "llama",
        "namespace": "serving",
        "model_server_labels": {"app": "llama"},
        "model_server_port": 8000,
        "picker_labels": {"inferencepool": "llama-epp"},
        "proxy_only_ranges": PROXY_RANGES,
    }
    return PoolNetworkPolicyInputs(**{**fields, **overrides})


def _wire(args: Any) -> Any:
    """An Args object as the plain dict Kubernetes would receive (camelCase keys)."""
    if isinstance(args, list | tuple):
        return [_wire(item) for item in args]
    if isinstance(args, dict):
        return {key: _wire(value) for key, value in args.items()}
    if type(args).__module__.startswith("pulumi_kubernetes"):
        return _wire(input_type_to_dict(args))  # the SDK's own Args -> wire-name flattening
    return args


def _rules_by_port(spec: Any) -> dict[int, list[dict[str, Any]]]:
    rules: dict[int, list[dict[str, Any]]] = {}
    for rule in _wire(spec)["ingress"]:
        for port in rule["ports"]:
            rules.setdefault(port["port"], []).extend(rule["from"])
    return rules


def _cidrs(peers: list[dict[str, Any]]) -> set[str]:
    return {peer["ipBlock"]["cidr"] for peer in peers if "ipBlock" in peer}


def test_only_the_proxy_only_ranges_reach_ext_proc() -> None:
    rules = _rules_by_port(picker_network_policy(_inputs()))
    assert _cidrs(rules[9002]) == set(PROXY_RANGES)
    assert all(set(peer) == {"ipBlock"} for peer in rules[9002]), "no pod or namespace peer on 9002"


def test_only_the_metrics_collector_reaches_picker_metrics() -> None:
    rules = _rules_by_port(picker_network_policy(_inputs()))
    assert rules[9090] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gmp-system"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "collector"}},
        }
    ]


def test_picker_policy_selects_the_picker_and_exposes_nothing_else() -> None:
    wire = _wire(picker_network_policy(_inputs()))
    assert wire["podSelector"] == {"matchLabels": {"inferencepool": "llama-epp"}}
    assert wire["policyTypes"] == ["Ingress"]
    assert set(_rules_by_port(wire_spec := picker_network_policy(_inputs()))) == {9002, 9003, 9090}
    assert _cidrs(_rules_by_port(wire_spec)[9003]) == {*PROXY_RANGES, *GOOGLE_HEALTH_CHECK_RANGES}


def test_active_active_pickers_reach_each_others_placement_port_and_nobody_else_does() -> None:
    wire = _wire(picker_network_policy(_inputs(picker_placement_port=9004)))
    (rule,) = [rule for rule in wire["ingress"] if {"port": 9004, "protocol": "UDP"} in rule["ports"]]
    assert rule == {
        "from": [{"podSelector": {"matchLabels": {"inferencepool": "llama-epp"}}}],
        "ports": [{"port": 9004, "protocol": "UDP"}],
    }
    # The other three rules are unchanged and name no UDP port.
    others = [other for other in wire["ingress"] if other != rule]
    assert len(others) == 3
    assert all(port["protocol"] == "TCP" for other in others for port in other["ports"])
    assert set(_rules_by_port(picker_network_policy(_inputs(picker_placement_port=9004)))) == {9002, 9003, 9090, 9004}
    # Without sharing (one replica, or a leader) the port stays closed.
    assert 9004 not in _rules_by_port(picker_network_policy(_inputs()))


def test_model_servers_take_traffic_from_proxies_picker_and_collector_only() -> None:
    rules = _rules_by_port(model_server_network_policy(_inputs()))
    assert set(rules) == {8000}
    peers = rules[8000]
    assert _cidrs(peers) == {*PROXY_RANGES, *GOOGLE_HEALTH_CHECK_RANGES}
    assert {"podSelector": {"matchLabels": {"inferencepool": "llama-epp"}}} in peers
    assert not any(peer.get("podSelector") == {} or peer.get("namespaceSelector") == {} for peer in peers)


def test_pool_policies_are_named_per_pool() -> None:
    assert set(pool_network_policies(_inputs())) == {"llama-epp-ingress", "llama-model-server-ingress"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"proxy_only_ranges": ()}, "proxy_only_ranges is empty"),
        ({"proxy_only_ranges": ("10.0.0.1/23",)}, "host bits set"),
        ({"proxy_only_ranges": ("not-a-cidr",)}, "'not-a-cidr'"),
        ({"model_server_port": 0}, "model_server_port 0"),
        ({"picker_labels": {}}, "an empty selector selects all"),
    ],
)
def test_bad_inputs_are_refused_with_the_field_named(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _inputs(**overrides)


def test_inference_service_creates_the_policies_of_every_pool(pulumi_mocks: Any) -> None:
    from tests.components.test_inference_service import build, services

    config = services("services_single")
    resources = build(pulumi_mocks, config, proxy_only_ranges=list(PROXY_RANGES))
    policies = {
        r.get("metadata.name"): r
        for r in resources
        if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
    }
    expected = {
        f"{pool.name}-{suffix}" for pool in config.pools for suffix in ("epp-ingress", "model-server-ingress")
    }
    assert set(policies) == expected
    for policy in policies.values():
        assert policy.get("metadata.namespace") == config.namespace
        cidrs = {
            peer["ipBlock"]["cidr"]
            for rule in policy.get("spec.ingress")
            for peer in rule["from"]
            if "ipBlock" in peer
        }
        assert set(PROXY_RANGES) <= cidrs


def test_inference_service_without_proxy_ranges_creates_no_policies(pulumi_mocks: Any) -> None:
    from tests.components.test_inference_service import build, services

    resources = build(pulumi_mocks, services("services_single"))
    assert not [r for r in resources if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"]
