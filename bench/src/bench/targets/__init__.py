"""Routing targets under test, by name; ``build_targets`` is the one place they are constructed."""

from __future__ import annotations

from pathlib import Path

from bench.targets.base import FleetView, Target, TargetUnavailable
from bench.targets.direct import DirectToReplicas
from bench.targets.envoy_baseline import EnvoyBaseline
from bench.targets.peer_router import PeerRouter, default_peers_venv
from bench.targets.picker_gateway import PickerGateway
from infgw.envoy import BodyMode

# The order reports list targets in: baselines, the picker, then the peers.
DEFAULT_TARGETS = (
    "envoy-round-robin",
    "envoy-least-request",
    "picker-default",
    "picker-recommended",
    "picker-recommended-lean",
    "picker-precise",
    "picker-precise-rendezvous",
    "picker-precise-prefill-backlog",
    "picker-precise-kv-fit",
    "picker-precise-kv-fit-backlog",
    "picker-llm-d-default",
    "picker-precise-2-workers",
    "picker-precise-2-replicas",
    "picker-recommended-2-replicas",
    "sglang-router",
    "vllm-router",
    "smg",
)
# Options of the precise profile measured against it (each off in precise.yaml): the full preset runs them, the
# standard one leaves them out (each adds about a minute and none is what the stack deploys).
PRECISE_VARIANTS = (
    "picker-precise-rendezvous",
    "picker-precise-prefill-backlog",
    "picker-precise-kv-fit",
    "picker-precise-kv-fit-backlog",
)


# The precise profile with new prefixes placed by rendezvous hashing (the same placement in every process,
# without sharing; the scale-out targets run the shipped footprint rule with shared placements instead).
RENDEZVOUS = (("coldPlacement", "rendezvous"),)
# The precise profile with prefillBacklog on at the bench fleet's prefill rate (3x-slowed H100 profile: 10k tok/s).
PREFILL_BACKLOG = (("prefillBacklog", {"peakPrefillThroughput": 10000, "maxTTFTPenaltyMs": 150}),)
# The precise profile with kvBlockFit on (the block count comes from each replica's cache_config_info), alone and
# with prefillBacklog.
KV_BLOCK_FIT = (("kvBlockFit", {}),)


def build_targets(peers_venv: Path | None = None) -> dict[str, Target]:
    venv = peers_venv or default_peers_venv()
    targets: list[Target] = [
        DirectToReplicas(),
        EnvoyBaseline("envoy-round-robin", "ROUND_ROBIN", "Envoy, round-robin pool (like a Kubernetes Service)"),
        EnvoyBaseline("envoy-least-request", "LEAST_REQUEST", "Envoy, least-request pool (P2C on active requests)"),
        PickerGateway("picker-default", "default", "Envoy + picker, the EPP's default scheduling profile"),
        PickerGateway("picker-recommended", "recommended", "Envoy + picker, the project's recommended profile"),
        PickerGateway("picker-recommended-lean", "recommended",
                      "as picker-recommended, response bodies bypass the picker (response_body_mode NONE)",
                      response_body_mode=BodyMode.NONE),
        PickerGateway("picker-precise", "precise",
                      "Envoy + picker, the precise profile: prefix affinity from the replicas' KV events",
                      wants_kv_events=True),
        PickerGateway("picker-precise-rendezvous", "precise",
                      "as picker-precise, new prefixes placed by rendezvous hashing (coldPlacement: rendezvous: "
                      "every process places alike without sharing; the stack runs footprint with shared "
                      "placements for --workers > 1 and active-active replicas), on one process",
                      wants_kv_events=True, scorer_overrides=RENDEZVOUS),
        PickerGateway("picker-precise-prefill-backlog", "precise",
                      "as picker-precise, a prefix nobody holds skips the replica routing history names when that "
                      "one would answer >150 ms after the soonest (prefillBacklog)",
                      wants_kv_events=True, scorer_overrides=PREFILL_BACKLOG),
        PickerGateway("picker-precise-kv-fit", "precise",
                      "as picker-precise, a prefix nobody holds leaves replicas whose free KV blocks (scraped, less "
                      "what was placed since) it does not fit for an idle one (kvBlockFit)",
                      wants_kv_events=True, scorer_overrides=KV_BLOCK_FIT),
        PickerGateway("picker-precise-kv-fit-backlog", "precise",
                      "as picker-precise-kv-fit, with prefillBacklog too", wants_kv_events=True,
                      scorer_overrides=KV_BLOCK_FIT + PREFILL_BACKLOG),
        PickerGateway("picker-llm-d-default", "llm-d-default",
                      "Envoy + picker, llm-d's guide default on llm-d-router v0.10 (sticky until saturated)"),
        PickerGateway("picker-precise-2-workers", "precise",
                      "as picker-precise, with --workers 2 (two processes, each its KV-event subscriptions, "
                      "sharing placements and in-flight counts), the profile as the stack deploys it with "
                      "picker.workers: 2",
                      wants_kv_events=True, workers=2),
        PickerGateway("picker-precise-2-replicas", "precise",
                      "two picker-precise replicas, both serving (active-active) and sharing their placements "
                      "and in-flight counts (--placement-port, --placement-peers): streams alternate between them (the stack's "
                      "haMode: active-active)", wants_kv_events=True, replicas=2, share_placements=True),
        PickerGateway("picker-recommended-2-replicas", "recommended",
                      "two picker-recommended replicas, both serving: what approximate prefix state loses "
                      "active-active (the stack keeps leader election for it)", replicas=2),
        PeerRouter("sglang-router", "sglang-router", "launch", "cache_aware", venv, "sglang-router cache_aware"),
        PeerRouter("vllm-router", "vllm-router", "", "cache_aware", venv, "vllm-router cache_aware"),
        PeerRouter("smg", "smg", "launch", "cache_aware", venv, "smg (SGLang Model Gateway) cache_aware"),
    ]
    return {t.name: t for t in targets}


def resolve_target_names(names: list[str], known: dict[str, Target]) -> list[str]:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown target(s) {unknown}; known: {sorted(known)}")
    return names


__all__ = [
    "DEFAULT_TARGETS",
    "PRECISE_VARIANTS",
    "FleetView",
    "Target",
    "TargetUnavailable",
    "build_targets",
    "resolve_target_names",
]
