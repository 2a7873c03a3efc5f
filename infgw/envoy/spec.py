"""Typed inputs for an Envoy bootstrap: the listener, the endpoint picker (ext_proc) connection and the
model-server pool. Validation happens here, before any process starts."""

from __future__ import annotations

import enum
import ipaddress
from http import HTTPStatus
from pathlib import Path

from picker.options import PickerOptions
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class DestinationRouting(enum.StrEnum):
    """How Envoy connects to the endpoint(s) the picker chose.

    ORIGINAL_DST: any ``ip:port`` the picker names (the Inference Extension's reference Envoy); one
    address, so a fallback list is cut to its primary and a request whose replica just died is lost.
    OVERRIDE_HOST: Envoy's override-host load balancer over the static ``endpoints`` pool; it connects to
    the first listed endpoint and, on each retry, to the next, so the picker's fallbacks
    (``maxNumOfEndpoints`` > 1) are used, and it can never reach an address outside the pool. The local
    gateway uses OVERRIDE_HOST; ORIGINAL_DST stays the default for a picker whose pool Envoy is not told.
    """

    ORIGINAL_DST = "ORIGINAL_DST"
    OVERRIDE_HOST = "OVERRIDE_HOST"


# Envoy's x-envoy-retry-on values that make sense for an inference gateway.
RETRY_CONDITIONS = frozenset(
    {
        "connect-failure",
        "refused-stream",
        "reset",
        "reset-before-request",
        "5xx",
        "gateway-error",
        "retriable-4xx",
    }
)


class BodyMode(enum.StrEnum):
    """ext_proc body modes the picker supports (``ProcessingMode.BodySendMode`` names).

    NONE is for responses only: the picker then sees response headers but no body, so it records no
    token usage, and each request costs two fewer gRPC messages.
    """

    FULL_DUPLEX_STREAMED = "FULL_DUPLEX_STREAMED"
    BUFFERED = "BUFFERED"
    NONE = "NONE"


def _split_hostport(value: str) -> tuple[str, int]:
    host, separator, port_text = value.rpartition(":")
    if not separator or not port_text.isdigit():
        raise ValueError(f"{value!r} is not host:port (for example 10.0.0.7:8000)")
    port = int(port_text)
    if not 0 < port < 65_536:
        raise ValueError(f"{value!r}: port must be 1-65535")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{value!r}: host must be an IP address (Envoy STATIC clusters need one)") from None
    return host, port


# For a picker with --workers: Envoy opens one connection per this many concurrent ext_proc streams, which
# the kernel spreads over the workers (it spreads connections, not streams; one connection would keep one
# worker busy and leave the others idle).
WORKER_STREAMS_PER_CONNECTION = 4


class PickerConnection(BaseModel):
    """Where the endpoint picker listens and how Envoy's ext_proc filter talks to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", description="The picker's IP address.")
    port: int = Field(
        PickerOptions.model_fields["grpc_port"].default,
        ge=1,
        le=65_535,
        description="The picker's ext_proc gRPC port (--grpc-port; default the picker's).",
    )
    standby_ports: tuple[int, ...] = Field(
        (),
        description="More picker replicas on the same host. With health_check on, Envoy round-robins streams "
        "over the replicas that report SERVING: the leader with leader election (followers report "
        "NOT_SERVING; Envoy fails over when it changes), every replica when they run active-active.",
    )
    tls: bool = Field(
        PickerOptions.model_fields["secure_serving"].default,
        description="TLS toward the picker without certificate verification, as gateways talk to the "
        "EPP's self-signed serving certificate. False for a picker run with --secure-serving=false.",
    )
    failure_mode_allow: bool = Field(
        False,
        description="FailOpen: when the picker is unreachable or errors, forward the request anyway "
        "(through the round-robin fallback pool). False is FailClose: the request fails. Needs "
        "request_body_mode BUFFERED (see the validator).",
    )
    status_on_error: int = Field(
        503,
        ge=400,
        le=599,
        description="What Envoy answers when the picker is unreachable or fails and FailClose applies "
        "(Envoy's own default is 500; the Inference Gateway answers 503).",
    )
    request_body_mode: BodyMode = BodyMode.FULL_DUPLEX_STREAMED
    response_body_mode: BodyMode = BodyMode.FULL_DUPLEX_STREAMED
    response_headers: bool = Field(
        True,
        description="Send response headers to the picker. False (with response_body_mode NONE) is "
        "route-only: about half the gRPC messages per request, but the picker's stream ends once the "
        "request is routed, so its in-flight counts and request metrics no longer cover the response.",
    )
    grpc_timeout_s: float = Field(10.0, gt=0, description="Timeout of the ext_proc gRPC stream setup.")
    message_timeout_s: float = Field(
        30.0,
        gt=0,
        description="How long Envoy waits for each picker answer; covers flow-control queueing in the picker.",
    )
    primary_destination_only: bool = Field(
        True,
        description="ORIGINAL_DST connects to exactly one ip:port: when the picker answers with fallbacks "
        "(a comma-separated list, maxNumOfEndpoints > 1), a Lua step keeps the first (primary) before "
        "routing. False sends the list unchanged, which ORIGINAL_DST rejects with 503.",
    )
    max_streams_per_connection: int | None = Field(
        None,
        ge=1,
        description="At most this many ext_proc streams share one HTTP/2 connection; Envoy opens more "
        "connections as streams grow. A picker with --workers spreads connections (not streams) over its "
        "worker processes, so a small value spreads load; None: Envoy's default (one connection per "
        "Envoy worker thread carries everything).",
    )
    health_check: bool = Field(
        False,
        description="Envoy gRPC-health-checks the picker's ext_proc port (service "
        "envoy.service.ext_proc.v3.ExternalProcessor; the picker serves grpc.health.v1 there too).",
    )

    @field_validator("status_on_error")
    @classmethod
    def _a_real_http_status(cls, status: int) -> int:
        try:
            HTTPStatus(status)
        except ValueError:
            raise ValueError(f"{status} is not an HTTP status Envoy knows; use e.g. 503 or 500") from None
        return status

    @model_validator(mode="after")
    def _replicas_need_health_checks(self) -> PickerConnection:
        if self.standby_ports and not self.health_check:
            raise ValueError(
                "standby_ports need health_check: without it Envoy would round-robin streams onto followers"
            )
        return self

    @model_validator(mode="after")
    def _no_response_body_without_response_headers(self) -> PickerConnection:
        if not self.response_headers and self.response_body_mode is not BodyMode.NONE:
            raise ValueError(
                "response_headers False needs response_body_mode NONE: Envoy cannot stream a response "
                "body to the picker whose headers it did not send"
            )
        return self

    @model_validator(mode="after")
    def _request_body_reaches_the_picker(self) -> PickerConnection:
        if self.request_body_mode is BodyMode.NONE:
            raise ValueError(
                "request_body_mode NONE: the picker needs the request body to route; use "
                "FULL_DUPLEX_STREAMED or BUFFERED"
            )
        return self

    @model_validator(mode="after")
    def _fail_open_needs_buffered_requests(self) -> PickerConnection:
        # Measured with Envoy 1.40: in FULL_DUPLEX_STREAMED mode Envoy fails open only until the first
        # body chunk has been handed to the picker's stream, which with an unreachable picker has already
        # happened: requests get a 500 instead of the fallback. BUFFERED fails open as configured.
        if self.failure_mode_allow and self.request_body_mode is not BodyMode.BUFFERED:
            raise ValueError(
                "failure_mode_allow (FailOpen) needs request_body_mode BUFFERED: with FULL_DUPLEX_STREAMED "
                "Envoy answers 500 instead of failing open when the picker is unreachable"
            )
        return self


class EnvoyBootstrapSpec(BaseModel):
    """One Envoy gateway: a listener, optionally the picker as ext_proc, and a model-server pool.

    With ``picker`` set, requests the picker routed go to the ``ip:port`` it wrote into
    ``x-gateway-destination-endpoint`` (see DestinationRouting); requests it did not route (FailOpen,
    picker down) go round-robin over ``endpoints`` when given and ``round_robin_fallback`` holds, else
    get a 503. Without ``picker``, Envoy balances round-robin over ``endpoints`` alone: the baseline.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    listener_host: str = Field("127.0.0.1", description="Address the gateway listens on.")
    listener_port: int = Field(
        0, ge=0, le=65_535, description="0 lets the OS choose; read it back from admin."
    )
    picker: PickerConnection | None = None
    endpoints: tuple[str, ...] = Field(
        (),
        description="Model servers as ip:port: the round-robin pool (baseline, or FailOpen fallback) and "
        "the pool OVERRIDE_HOST routes within.",
    )
    round_robin_fallback: bool = Field(
        True,
        description="With 'picker' and 'endpoints': requests the picker did not route (FailOpen, picker "
        "down) go round-robin over 'endpoints'. False answers them 503 instead (FailClose), while "
        "OVERRIDE_HOST still routes the picked ones within 'endpoints'.",
    )
    connect_timeout_s: float = Field(1.0, gt=0)
    route_timeout_s: float = Field(
        0.0, ge=0, description="Whole-request timeout; 0 disables it (LLM streams can be long)."
    )
    num_retries: int = Field(2, ge=0, le=10, description="Retries under the retry_on conditions.")
    retry_on: tuple[str, ...] = Field(
        ("connect-failure", "refused-stream"),
        description="Envoy retry conditions; 'reset' also retries a request whose connection broke mid-way.",
    )
    destination_routing: DestinationRouting = DestinationRouting.ORIGINAL_DST
    buffer_limit_bytes: int | None = Field(
        None, gt=0, description="Per-connection buffer; BUFFERED mode rejects larger bodies with 413."
    )
    access_log: bool = Field(False, description="Log each request to Envoy's stdout.")
    timing_log: Path | None = Field(
        None,
        description="Append one JSON line per request to this file: where Envoy's time went (request "
        "phases, upstream, response headers and body, in microseconds) and the ext_proc filter's own "
        "per-phase latencies (TIMING_LOG_FIELDS in infgw/envoy/bootstrap.py). For benchmarks.",
    )

    @field_validator("endpoints")
    @classmethod
    def _endpoints_are_hostports(cls, endpoints: tuple[str, ...]) -> tuple[str, ...]:
        for endpoint in endpoints:
            _split_hostport(endpoint)
        return endpoints

    @field_validator("retry_on")
    @classmethod
    def _known_retry_conditions(cls, retry_on: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(retry_on) - RETRY_CONDITIONS)
        if unknown:
            raise ValueError(f"unknown retry condition(s) {unknown}; use some of {sorted(RETRY_CONDITIONS)}")
        return retry_on

    @model_validator(mode="after")
    def _override_host_needs_the_pool(self) -> EnvoyBootstrapSpec:
        if self.destination_routing is DestinationRouting.OVERRIDE_HOST and (
            self.picker is None or not self.endpoints
        ):
            raise ValueError(
                "destination_routing OVERRIDE_HOST balances over a known pool: set both 'picker' and "
                "'endpoints' (every model server the picker may choose)"
            )
        return self

    @model_validator(mode="after")
    def _something_to_route_to(self) -> EnvoyBootstrapSpec:
        if self.picker is None and not self.endpoints:
            raise ValueError("set 'picker' (picker routing) or 'endpoints' (round-robin), or both")
        if self.picker is None and not self.round_robin_fallback:
            raise ValueError(
                "round_robin_fallback False without 'picker' leaves nothing to route to; set 'picker', "
                "or keep round_robin_fallback True for the round-robin baseline"
            )
        return self

    @property
    def routes_unpicked_round_robin(self) -> bool:
        """Whether requests the picker did not route (or all, without a picker) go round-robin."""
        return bool(self.endpoints) and self.round_robin_fallback

    def endpoint_addresses(self) -> list[tuple[str, int]]:
        return [_split_hostport(endpoint) for endpoint in self.endpoints]
