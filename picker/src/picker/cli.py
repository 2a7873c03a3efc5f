"""Command-line flags, spelled and defaulted as the EPP's (``--grpc-port 9002``, ``--secure-serving=false``,
``--refresh-metrics-interval 50ms``), parsed into :class:`PickerOptions`.

argparse rather than typer: Go-style flags (``--flag=false``, durations) drop in unchanged from EPP
manifests, and the image needs no CLI framework.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from picker.config.durations import parse_duration_s
from picker.options import VLLM_METRIC_NAMES, PickerOptions

_TRUE = {"true", "t", "1", "yes"}
_FALSE = {"false", "f", "0", "no"}


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean; use true or false")


def _duration(text: str) -> float:
    try:
        return parse_duration_s(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _workers(text: str) -> int | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a worker count; use a number or auto") from None


def _add_bool(group: argparse._ArgumentGroup, flag: str, dest: str, help_text: str) -> None:
    # Go's flag package accepts --x, --x=true and --x=false; so does this.
    group.add_argument(
        flag, dest=dest, type=_bool, nargs="?", const=True, metavar="BOOL", help=help_text
    )  # fmt: skip


def _defaults_from_options(parser: argparse.ArgumentParser) -> None:
    """Every flag's default is its PickerOptions field's (defined once, there); --help shows it."""
    dests = {action.dest for action in parser._actions}
    parser.set_defaults(
        **{name: field.default for name, field in PickerOptions.model_fields.items() if name in dests}
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m picker",
        description="Endpoint picker for the GKE Inference Gateway: an Envoy ext_proc server that picks a "
        "model-server replica per request (Endpoint Picker Protocol), a drop-in for the Gateway API "
        "Inference Extension's EPP.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
        # Bad values raise ArgumentError for parse_options to report, instead of exiting the process:
        # the stack's rehearsal checks planned command lines in-process.
        exit_on_error=False,
    )
    pool = parser.add_argument_group("pool")
    pool.add_argument("--pool-name", help="InferencePool to serve; required unless --endpoints-file")
    pool.add_argument("--pool-namespace", help="namespace of the pool; empty = $NAMESPACE, else 'default'")
    pool.add_argument("--pool-group", help="API group of the InferencePool")
    pool.add_argument(
        "--endpoints-file", type=Path,
        help="static discovery for local runs: YAML 'endpoints: [{name, address, port, labels}]' and "
        "'objectives: [{name, priority}]', re-read when it changes; replaces Kubernetes discovery",
    )  # fmt: skip
    pool.add_argument(
        "--kubeconfig", type=Path,
        help="kubeconfig of the API server (pool discovery, leader election); default: in-cluster "
        "config, then ~/.kube/config",
    )  # fmt: skip

    scheduling = parser.add_argument_group("scheduling")
    configs = scheduling.add_mutually_exclusive_group()
    configs.add_argument("--config-file", type=Path, help="EndpointPickerConfig YAML file")
    configs.add_argument("--config-text", help="EndpointPickerConfig YAML inline")
    scheduling.add_argument("--seed", type=int, help="seed of the picker's RNG (tie-breaks, random pickers)")
    scheduling.add_argument(
        "--model-server-scheduling-policy", choices=("fcfs", "priority"),
        help="the pool's vLLM --scheduling-policy; with priority, requests with a known "
        "InferenceObjective carry vLLM's body field priority = -objective priority (others 0)",
    )  # fmt: skip

    serving = parser.add_argument_group("serving")
    serving.add_argument("--bind-address", help="address every port binds to")
    serving.add_argument("--grpc-port", type=int, help="ext_proc gRPC port (0 = any free port)")
    serving.add_argument("--grpc-health-port", type=int, help="gRPC health port")
    serving.add_argument("--metrics-port", type=int, help="Prometheus /metrics port")
    _add_bool(serving, "--secure-serving", "secure_serving", "TLS on the ext_proc port")
    serving.add_argument(
        "--cert-path", type=Path,
        help="directory holding tls.crt and tls.key; without it a self-signed certificate is generated",
    )  # fmt: skip
    _add_bool(
        serving, "--metrics-endpoint-auth", "metrics_endpoint_auth",
        "require a bearer token on /metrics; needs --metrics-auth-token-file (no TokenReview here)",
    )  # fmt: skip
    serving.add_argument(
        "--metrics-auth-token-file", type=Path,
        help="file with the bearer token /metrics accepts (re-read per scrape); setting it enables the check",
    )  # fmt: skip
    _add_bool(
        serving, "--uvloop", "uvloop",
        "run the event loop on uvloop (less CPU and latency per request); false: asyncio's own loop",
    )  # fmt: skip
    serving.add_argument(
        "--workers", type=_workers, metavar="N|auto",
        help="worker processes sharing the ext_proc port (each its own scheduling state, one supervisor "
        "answering health and metrics for all); auto: the container's CPU limit, else its CPU affinity",
    )  # fmt: skip
    serving.add_argument(
        "--placement-port", type=int, metavar="PORT",
        help="UDP port on which this replica receives its active-active peers' placements (0: off; "
        "with --workers 1)",
    )  # fmt: skip
    serving.add_argument(
        "--placement-peers", metavar="HOST:PORT,...",
        help="picker replicas to share placements with (a headless Service's name lists every pod; this "
        "pod's own address among them is fine), resolved again every --placement-peers-refresh",
    )  # fmt: skip
    serving.add_argument(
        "--placement-peers-refresh", dest="placement_peers_refresh_s", type=_duration,
        metavar="DURATION", help="how often --placement-peers names are resolved again (e.g. 10s)",
    )  # fmt: skip
    serving.add_argument(
        "--shutdown-grace-period", dest="shutdown_grace_period_s", type=_duration, metavar="DURATION",
        help="on SIGTERM, how long open streams may finish (seconds or e.g. 25s)",
    )  # fmt: skip

    scraping = parser.add_argument_group("model-server metrics")
    scraping.add_argument(
        "--refresh-metrics-interval", dest="refresh_metrics_interval_s", type=_duration, metavar="DURATION",
        help="per-endpoint scrape interval (e.g. 50ms)",
    )  # fmt: skip
    scraping.add_argument(
        "--refresh-prometheus-metrics-interval", dest="refresh_prometheus_metrics_interval_s", type=_duration,
        metavar="DURATION", help="how often pool-level gauges are flushed",
    )  # fmt: skip
    scraping.add_argument(
        "--metrics-staleness-threshold", dest="metrics_staleness_threshold_s", type=_duration, metavar="DURATION", help="endpoint metrics older than this count as stale",
    )  # fmt: skip
    scraping.add_argument(
        "--model-server-metrics-port", type=int, help="scrape this port; 0 = each endpoint's own port"
    )
    scraping.add_argument("--model-server-metrics-path", help="path of the metrics endpoint")
    scraping.add_argument("--model-server-metrics-scheme", choices=("http", "https"), help="scheme for scraping")
    _add_bool(
        scraping, "--model-server-metrics-https-insecure-skip-verify",
        "model_server_metrics_https_insecure_skip_verify", "skip certificate checks when scraping over https",
    )  # fmt: skip

    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), help="log verbosity"
    )

    compatibility = parser.add_argument_group(
        "EPP compatibility", "accepted so EPP manifests and chart values run unchanged; effects as described"
    )
    compatibility.add_argument(
        "--v",
        dest="verbosity",
        type=int,
        default=None,
        help="EPP log verbosity: >= 3 means --log-level debug",
    )
    compatibility.add_argument(
        "--zap-encoder", dest="log_format", choices=("console", "json"),
        help="log line format: console text or one JSON object per line",
    )  # fmt: skip
    for flag, metric in zip(
        (
            "--total-queued-requests-metric",
            "--kv-cache-usage-percentage-metric",
            "--lora-info-metric",
            "--cache-info-metric",
        ),
        VLLM_METRIC_NAMES,
        strict=True,
    ):
        compatibility.add_argument(
            flag,
            help=f"only vLLM's metric names are read ({metric}, with vllm:gpu_cache_usage_perc as the KV "
            "fallback); another value is a startup error",
        )  # fmt: skip
    for flag, dest, effect in (
        ("--tracing", "tracing", "OpenTelemetry tracing is not implemented; true logs a warning"),
        ("--enable-pprof", "enable_pprof", "Go profiling; no effect in this picker"),
        ("--health-checking", "health_checking", "no effect: gRPC health is always served"),
    ):  # fmt: skip
        _add_bool(compatibility, flag, dest, effect)
    _add_leader_election(parser)
    _defaults_from_options(parser)
    return parser


def _add_leader_election(parser: argparse.ArgumentParser) -> None:
    election = parser.add_argument_group(
        "high availability",
        "one replica (the holder of Lease epp-<pool-namespace>-<pool-name>.llm-d.ai) reports ready; "
        "the others keep discovery and scraping warm and take over when the lease lapses",
    )
    _add_bool(
        election, "--ha-enable-leader-election", "ha_enable_leader_election",
        "elect a leader through a coordination.k8s.io Lease; only the leader reports ready",
    )  # fmt: skip
    for flag, dest, effect in (
        ("--ha-lease-duration", "ha_lease_duration_s",
         "followers take over this long after the last renewal they saw"),
        ("--ha-renew-deadline", "ha_renew_deadline_s", "a leader that has not renewed for this long stops serving"),
        ("--ha-retry-period", "ha_retry_period_s", "interval between acquire and renew attempts"),
    ):  # fmt: skip
        election.add_argument(flag, dest=dest, type=_duration, metavar="DURATION", help=effect)


class OptionsError(ValueError):
    """The flags are individually fine but do not make a runnable picker together."""


def parse_options(argv: Sequence[str]) -> PickerOptions:
    """Flags -> validated options. Every problem (an unknown flag, a bad value, flags that do not go
    together) raises OptionsError; ``--help`` prints and exits as usual."""
    try:
        namespace, unknown = build_parser().parse_known_args(list(argv))
    except argparse.ArgumentError as error:
        raise OptionsError(str(error)) from None
    if unknown:
        raise OptionsError(f"unrecognized arguments: {' '.join(unknown)}")
    values = vars(namespace)
    verbosity = values.pop("verbosity")
    if verbosity is not None and verbosity >= 3:
        values["log_level"] = "debug"
    try:
        return PickerOptions(**values)
    except ValidationError as error:
        problems = "; ".join(
            f"--{'-'.join(str(part) for part in issue['loc']).replace('_', '-')}: {issue['msg']}"
            if issue["loc"]
            else issue["msg"].removeprefix("Value error, ")
            for issue in error.errors()
        )
        raise OptionsError(problems) from None
