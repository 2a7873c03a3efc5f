"""The picker process's options (the EPP's flags plus local-run extras), validated as one pydantic model
before anything binds a port or starts a loop."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from picker.engine_priority import ModelServerSchedulingPolicy

DEFAULT_POOL_GROUP = "inference.networking.k8s.io"
# client-go's leader election jitter: retries wait retry_period x (1 + up to this factor).
LEASE_JITTER_FACTOR = 1.2
# One worker process per core is the useful most; more only share the same cores.
MAX_WORKERS = 64
# The metric names the datastore reads (KV usage falls back to vllm:gpu_cache_usage_perc).
VLLM_METRIC_NAMES = (
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:lora_requests_info",
    "vllm:cache_config_info",
)


class PickerOptions(BaseModel):
    """Everything ``python -m picker`` accepts; flag ``--foo-bar`` is field ``foo_bar``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- the pool ------------------------------------------------------------------------------
    pool_name: str = Field("", description="InferencePool to serve (required unless --endpoints-file).")
    pool_namespace: str = Field(
        "", description="Namespace of the pool; empty means $NAMESPACE, then 'default' (as the EPP)."
    )
    pool_group: str = Field(DEFAULT_POOL_GROUP, description="API group of the InferencePool.")
    endpoints_file: Path | None = Field(
        None, description="Static discovery: YAML with endpoints (and objectives) instead of Kubernetes."
    )
    kubeconfig: Path | None = Field(
        None, description="Kubeconfig for the API server; default: in-cluster config, then ~/.kube/config."
    )

    # --- scheduling configuration ---------------------------------------------------------------
    config_file: Path | None = Field(None, description="EndpointPickerConfig YAML file.")
    config_text: str | None = Field(None, description="EndpointPickerConfig YAML inline.")
    seed: int = Field(0, description="Seed of the picker's RNG (tie-breaks, random pickers).")

    # --- serving --------------------------------------------------------------------------------
    bind_address: str = Field("0.0.0.0", description="Address every port binds to.")
    grpc_port: int = Field(9002, ge=0, le=65_535, description="ext_proc gRPC port.")
    grpc_health_port: int = Field(9003, ge=0, le=65_535, description="gRPC health port.")
    metrics_port: int = Field(9090, ge=0, le=65_535, description="Prometheus /metrics port.")
    secure_serving: bool = Field(True, description="TLS on the ext_proc port.")
    cert_path: Path | None = Field(None, description="Directory with tls.crt and tls.key; else self-signed.")
    metrics_endpoint_auth: bool = Field(False, description="Require a bearer token on /metrics.")
    metrics_auth_token_file: Path | None = Field(
        None, description="File holding the accepted bearer token; setting it turns the check on."
    )
    shutdown_grace_period_s: float = Field(
        25.0, ge=0, description="On SIGTERM, how long open streams may finish before they are cut."
    )
    uvloop: bool = Field(
        True,
        description="Run the event loop on uvloop (libuv; its TLS and socket paths are compiled), which cuts the "
        "picker's CPU per request and its latency at one request in flight; false: asyncio's own loop.",
    )
    workers: int | Literal["auto"] = Field(
        1,
        description="Worker processes serving the ext_proc port under one supervisor that accepts its "
        "connections and deals them out, and answers health and metrics for all; 'auto': the CPU limit (cgroup cpu.max), else the CPU affinity.",
    )
    placement_port: int = Field(
        0,
        ge=0,
        le=65_535,
        description="UDP port on which this replica receives active-active peers' placements (0: off).",
    )
    placement_peers: str = Field(
        "",
        description="Comma-separated host:port of the picker replicas to share placements with (a headless "
        "Service name lists every pod; this pod's own address may be among them); re-resolved periodically.",
    )
    placement_peers_refresh_s: float = Field(
        10.0, gt=0, description="How often --placement-peers host names are resolved again."
    )

    # --- model-server metrics -------------------------------------------------------------------
    refresh_metrics_interval_s: float = Field(0.05, gt=0, description="Per-endpoint scrape interval.")
    refresh_prometheus_metrics_interval_s: float = Field(5.0, gt=0, description="Pool gauge flush interval.")
    metrics_staleness_threshold_s: float = Field(2.0, gt=0, description="Scrapes older than this are stale.")
    model_server_metrics_port: int = Field(0, ge=0, le=65_535, description="0 = each endpoint's own port.")
    model_server_metrics_path: str = Field("/metrics", pattern=r"^/")
    model_server_metrics_scheme: Literal["http", "https"] = "http"
    model_server_metrics_https_insecure_skip_verify: bool = True
    model_server_scheduling_policy: ModelServerSchedulingPolicy = Field(
        "fcfs",
        description="The pool's vLLM --scheduling-policy; priority: write the objective's priority into "
        "request bodies as vLLM's `priority` (negated: higher objective priority runs earlier).",
    )

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"

    # --- EPP flags accepted for manifest compatibility (see `python -m picker --help`) ---------
    total_queued_requests_metric: str = VLLM_METRIC_NAMES[0]
    kv_cache_usage_percentage_metric: str = VLLM_METRIC_NAMES[1]
    lora_info_metric: str = VLLM_METRIC_NAMES[2]
    cache_info_metric: str = VLLM_METRIC_NAMES[3]
    tracing: bool = False

    # --- high availability: one leader serves (Kubernetes Lease) ---------------------------------
    ha_enable_leader_election: bool = False
    ha_lease_duration_s: float = Field(
        15.0, gt=0, description="How long followers wait after the last renewal they saw before taking over."
    )
    ha_renew_deadline_s: float = Field(
        10.0, gt=0, description="A leader that has not renewed for this long steps down."
    )
    ha_retry_period_s: float = Field(2.0, gt=0, description="Interval between acquire and renew attempts.")
    enable_pprof: bool = False
    health_checking: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> PickerOptions:
        if self.config_file is not None and self.config_text is not None:
            raise ValueError("--config-file and --config-text are mutually exclusive: pass one of them")
        if not self.pool_name and self.endpoints_file is None:
            raise ValueError(
                "--pool-name is required (the InferencePool to serve); for a local run without "
                "Kubernetes pass --endpoints-file instead"
            )
        if self.metrics_endpoint_auth and self.metrics_auth_token_file is None:
            raise ValueError(
                "--metrics-endpoint-auth needs --metrics-auth-token-file: this picker cannot check "
                "Kubernetes TokenReview; pass a token file or --metrics-endpoint-auth=false"
            )
        metric_flags = (
            ("--total-queued-requests-metric", self.total_queued_requests_metric),
            ("--kv-cache-usage-percentage-metric", self.kv_cache_usage_percentage_metric),
            ("--lora-info-metric", self.lora_info_metric),
            ("--cache-info-metric", self.cache_info_metric),
        )
        for (flag, value), supported in zip(metric_flags, VLLM_METRIC_NAMES, strict=True):
            if value != supported and not (flag.startswith("--kv") and value == "vllm:gpu_cache_usage_perc"):
                raise ValueError(
                    f"{flag} {value!r}: this picker reads vLLM's metric names only ({supported}); "
                    "drop the flag, or serve vLLM-compatible metrics"
                )
        if self.ha_enable_leader_election:
            self._check_leader_election()
        if isinstance(self.workers, int) and not 1 <= self.workers <= MAX_WORKERS:
            raise ValueError(
                f"--workers {self.workers}: use 1 to {MAX_WORKERS}, or auto (one per CPU of the limit)"
            )
        if self.placement_peers:
            self.placement_peer_list()  # each entry host:port
            if self.placement_port == 0:
                raise ValueError(
                    "--placement-peers needs --placement-port: the UDP port this replica receives its peers' "
                    "placements on (the same on every replica, e.g. 9004)"
                )
        if self.cert_path is not None and not self.secure_serving:
            raise ValueError("--cert-path has no effect with --secure-serving=false: drop one of them")
        return self

    def placement_peer_list(self) -> list[tuple[str, int]]:
        """--placement-peers as (host, port) pairs; raises ValueError naming a bad entry."""
        peers = []
        for entry in (part.strip() for part in self.placement_peers.split(",")):
            host, _, port = entry.rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65_535:
                raise ValueError(
                    f"--placement-peers entry {entry!r}: expected host:port (e.g. "
                    "picker-peers.my-namespace.svc.cluster.local:9004), comma-separated"
                )
            peers.append((host.strip("[]"), int(port)))
        return peers

    def _check_leader_election(self) -> None:
        if not self.pool_name:
            raise ValueError(
                "--ha-enable-leader-election needs --pool-name: the Lease is named after the pool "
                "(epp-<namespace>-<pool>.llm-d.ai); pass --pool-name with --endpoints-file too"
            )
        # client-go's rules: the leader must give up before followers may take over, and retry
        # (with up to 1.2x jitter) within the renew deadline.
        if self.ha_lease_duration_s <= self.ha_renew_deadline_s:
            raise ValueError(
                f"--ha-lease-duration ({self.ha_lease_duration_s:g}s) must be longer than "
                f"--ha-renew-deadline ({self.ha_renew_deadline_s:g}s)"
            )
        if self.ha_renew_deadline_s <= LEASE_JITTER_FACTOR * self.ha_retry_period_s:
            raise ValueError(
                f"--ha-renew-deadline ({self.ha_renew_deadline_s:g}s) must be longer than "
                f"{LEASE_JITTER_FACTOR:g} x --ha-retry-period ({self.ha_retry_period_s:g}s)"
            )

    def lease_name(self, environ: Mapping[str, str]) -> str:
        """The EPP's Lease name: ``epp-<poolNamespace>-<poolName>.llm-d.ai``."""
        return f"epp-{self.resolved_pool_namespace(environ)}-{self.pool_name}.llm-d.ai"

    def resolved_pool_namespace(self, environ: Mapping[str, str]) -> str:
        """The flag, else ``$NAMESPACE`` (the Downward API in the chart), else ``default``."""
        return self.pool_namespace or environ.get("NAMESPACE", "") or "default"
