"""CPU the picker spends per whole request above the gRPC transport, by phase, with the real director.

Every request replays what Envoy sends in FULL_DUPLEX_STREAMED mode (request headers with
``protocol_config``, the JSON body in two chunks, response headers and body with the ``envoy.lb`` served
endpoint, a JSON answer or SSE events with usage in the last one) through ``RequestStream`` in front of
a Director built by ``picker.factory.build_director`` from ``picker/src/picker/profiles/default.yaml`` or
``recommended.yaml``, with real ``PickerMetrics``, static endpoints whose scraped metrics stay fresh,
and a seeded mix of ~1k-token completions and chat prompts sharing system prompts.

Process CPU time only (the box is shared): per-phase timers around each ``handle``/``close`` call, minus
the timer's own calibrated cost, and protobuf (de)serialisation in its own column because the transport
pays it in any servicer. Run from the repository root:

    .venv/bin/python -m bench.micro.picker.request_cost                       # this tree
    .venv/bin/python -m bench.micro.picker.request_cost --baseline-ref HEAD~3 # side by side with a git ref

With ``--baseline-ref`` the same script runs alternately against this tree and a temporary git worktree
of the ref (its ``picker/src`` first on ``PYTHONPATH``), ``--rounds`` times each, and prints the least CPU
per phase (other processes only add to it) and the ratio. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from envoy.config.core.v3.base_pb2 import HeaderMap, HeaderValue
from envoy.service.ext_proc.v3.external_processor_pb2 import HttpBody, HttpHeaders, ProcessingRequest
from google.protobuf.struct_pb2 import Struct

from bench.micro.command_line import command_line

REPO_ROOT = Path(__file__).resolve().parents[5]  # bench/src/bench/micro/picker/<this file>
PROFILES = {
    "default": REPO_ROOT / "picker" / "src" / "picker" / "profiles" / "default.yaml",
    "recommended": REPO_ROOT / "picker" / "src" / "picker" / "profiles" / "recommended.yaml",
}
PHASES = ("request headers", "request body + route", "response headers", "response body", "close")
WIRE = "protobuf wire"
CHARS_PER_TOKEN = 4
SYSTEM_PROMPTS = 16
SHARED_SHARE = 0.8  # of each prompt is one of the shared system prompts
ENDPOINTS = 8
# Scrapes land as often as the picker's default --refresh-metrics-interval: the recommended profile's 200 ms
# staleness threshold never trips, so flow control stays on its fast path (nothing here would dispatch a
# queued request: the loop never yields).
SCRAPE_INTERVAL_S = 0.05
RUN_TIMEOUT_S = 120.0  # a whole run takes seconds even on a loaded box
# protocol_config (ProcessingRequest field 11): request and response body mode FULL_DUPLEX_STREAMED (4),
# appended as raw bytes because the installed xds-protos predate the field (Envoy sends it, see
# picker.server.envoy_requests.announced_body_modes).
PROTOCOL_CONFIG_FULL_DUPLEX = b"\x5a\x04\x08\x04\x10\x04"


@dataclass(frozen=True)
class RequestWire:
    """One request's ProcessingRequests as serialised bytes, each tagged with the phase it belongs to."""

    messages: tuple[tuple[str, bytes], ...]


@contextmanager
def baseline_source(ref: str | None, scratch: Path) -> Iterator[Path | None]:
    """``picker/src`` of ``ref`` in a detached git worktree under ``scratch`` (None without a ref); removed
    on exit, so a comparison run leaves no worktree behind."""
    if not ref:
        yield None
        return
    worktree = scratch / "baseline"
    subprocess.run(
        ["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach", "--quiet", str(worktree), ref],
        check=True,
    )
    try:
        yield worktree / "picker" / "src"
    finally:
        subprocess.run(
            ["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(worktree)], check=False
        )


def _header_map(values: dict[str, str]) -> HeaderMap:
    return HeaderMap(headers=[HeaderValue(key=k, raw_value=v.encode()) for k, v in values.items()])


def _served(message: ProcessingRequest, hostport: str) -> ProcessingRequest:
    struct = Struct()
    struct.update(
        {"x-gateway-destination-endpoint": hostport, "x-gateway-destination-endpoint-served": hostport}
    )
    message.metadata_context.filter_metadata["envoy.lb"].CopyFrom(struct)
    return message


def _random_text(rng: random.Random, chars: int) -> str:
    words = []
    length = 0
    while length < chars:
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:chars]


def build_requests(seed: int, count: int, prompt_tokens: int, sse_events: int) -> list[RequestWire]:
    """A seeded mix: half completions / half chat, half SSE / half JSON, prompts of ``prompt_tokens``."""
    rng = random.Random(seed)
    chars = prompt_tokens * CHARS_PER_TOKEN
    shared_chars = int(chars * SHARED_SHARE)
    systems = [_random_text(rng, shared_chars) for _ in range(SYSTEM_PROMPTS)]
    hostport = "10.0.0.1:8000"  # which endpoint Envoy reports does not change the picker's work
    requests = []
    for index in range(count):
        prompt = rng.choice(systems) + _random_text(rng, chars - shared_chars)
        streaming = index % 2 == 1
        if index % 4 < 2:
            path = "/v1/completions"
            body_object: dict[str, object] = {"model": "food-review", "prompt": prompt, "max_tokens": 16}
        else:
            path = "/v1/chat/completions"
            system, user = prompt[:shared_chars], prompt[shared_chars:]
            body_object = {
                "model": "food-review",
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
                "max_tokens": 16,
            }
        if streaming:
            body_object["stream"] = True
            body_object["stream_options"] = {"include_usage": True}
        body = json.dumps(body_object).encode()
        request_headers = {
            ":method": "POST", ":path": path, ":authority": "gateway", ":scheme": "http",
            "content-type": "application/json", "content-length": str(len(body)),
            "user-agent": "OpenAI/Python 1.55.0", "accept": "application/json", "x-forwarded-proto": "http",
            "x-request-id": f"0b0e6f1e-2a59-4b0a-9f0c-{index:012d}",
        }  # fmt: skip
        if index % 8 == 0:
            request_headers["x-gateway-inference-objective"] = "interactive"
        head = ProcessingRequest(request_headers=HttpHeaders(headers=_header_map(request_headers)))
        half = len(body) // 2
        messages: list[tuple[str, bytes]] = [
            (PHASES[0], head.SerializeToString() + PROTOCOL_CONFIG_FULL_DUPLEX),
            (PHASES[1], ProcessingRequest(request_body=HttpBody(body=body[:half])).SerializeToString()),
            (
                PHASES[1],
                ProcessingRequest(
                    request_body=HttpBody(body=body[half:], end_of_stream=True)
                ).SerializeToString(),
            ),
        ]
        response_headers = {
            ":status": "200", "content-type": "text/event-stream" if streaming else "application/json",
            "date": "Sat, 21 Nov 2026 22:00:00 GMT", "server": "uvicorn", "x-envoy-upstream-service-time": "3",
        }  # fmt: skip
        messages.append(
            (
                PHASES[2],
                _served(
                    ProcessingRequest(response_headers=HttpHeaders(headers=_header_map(response_headers))),
                    hostport,
                ).SerializeToString(),
            )
        )
        chunks: list[bytes] = []
        if streaming:
            for event_index in range(sse_events):
                event: dict[str, object] = {
                    "id": f"cmpl-{index}", "object": "text_completion", "created": 1763762400,
                    "model": "food-review", "choices": [{"index": 0, "text": f" tok{event_index}"}],
                }  # fmt: skip
                chunks.append(b"data: " + json.dumps(event).encode() + b"\n\n")
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": sse_events}
            final = {"id": f"cmpl-{index}", "object": "text_completion", "choices": [], "usage": usage}
            chunks.append(b"data: " + json.dumps(final).encode() + b"\n\ndata: [DONE]\n\n")
        else:
            reply = {
                "id": f"cmpl-{index}", "object": "text_completion", "model": "food-review",
                "choices": [{"index": 0, "text": " ok" * 16, "finish_reason": "length"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 16},
            }  # fmt: skip
            chunks.append(json.dumps(reply).encode())
        for chunk in chunks:
            message = _served(ProcessingRequest(response_body=HttpBody(body=chunk)), hostport)
            messages.append((PHASES[3], message.SerializeToString()))
        end = _served(ProcessingRequest(response_body=HttpBody(body=b"", end_of_stream=True)), hostport)
        messages.append((PHASES[3], end.SerializeToString()))
        requests.append(RequestWire(tuple(messages)))
    return requests


class _Pool:
    """Static endpoints and their scraped metrics, refreshed outside the timed sections (scraping is not
    per-request work), below every saturation threshold."""

    def __init__(self, store: object, clock: object, rng: random.Random) -> None:
        from picker.framework.types import Endpoint

        self._store = store
        self._clock = clock
        self._rng = rng
        store.replace_endpoints(  # type: ignore[attr-defined]
            Endpoint(f"vllm-{i}-rank-0", f"10.0.0.{i + 1}", 8000) for i in range(ENDPOINTS)
        )
        store.replace_objectives({"interactive": 1})  # type: ignore[attr-defined]
        self.refresh()

    def refresh(self) -> None:
        from picker.framework.types import EndpointMetrics

        now_s = self._clock.now()  # type: ignore[attr-defined]
        for i in range(ENDPOINTS):
            self._store.update_metrics(  # type: ignore[attr-defined]
                f"vllm-{i}-rank-0",
                EndpointMetrics(
                    waiting_queue_size=self._rng.randint(0, 2),
                    running_requests=self._rng.randint(0, 24),
                    kv_cache_usage_ratio=self._rng.uniform(0.0, 0.6),
                    active_lora_adapters=frozenset({"food-review"}) if i % 2 else frozenset(),
                    max_active_loras=4,
                    updated_at_s=now_s,
                ),
            )


def _timer_call_ns(samples: int = 20000) -> float:
    """The cost of one ``process_time_ns`` call: every timed gap below contains one."""
    clock = time.process_time_ns
    started = clock()
    for _ in range(samples):
        clock()
    return (clock() - started) / samples


async def _run_profile(profile: str, wires: list[RequestWire], seed: int, warmup: int) -> dict[str, float]:
    from envoy.service.ext_proc.v3.external_processor_pb2 import ProcessingRequest as Request
    from picker.config import load_config_file
    from picker.datastore.store import EndpointStore
    from picker.factory import build_director
    from picker.framework.clock import RealClock
    from picker.metrics import PickerMetrics
    from picker.server.ext_proc_settings import ExtProcSettings
    from picker.server.request_stream import RequestStream

    clock = RealClock()
    store = EndpointStore()
    pool = _Pool(store, clock, random.Random(seed))
    director = build_director(
        load_config_file(PROFILES[profile]), store, clock, random.Random(seed), PickerMetrics("bench")
    )
    settings = ExtProcSettings()
    totals = dict.fromkeys((*PHASES, WIRE), 0)
    gaps = dict.fromkeys(totals, 0)  # timed gaps per key, to take the timer's own cost out
    timer = time.process_time_ns
    refreshed_s = clock.now()
    for number, wire in enumerate(wires):
        if clock.now() - refreshed_s >= SCRAPE_INTERVAL_S:
            pool.refresh()
            refreshed_s = clock.now()
        if number == warmup:
            totals = dict.fromkeys(totals, 0)
            gaps = dict.fromkeys(totals, 0)
        stream = RequestStream(director, settings, lambda: str(uuid.uuid4()))  # as ext_proc.py
        for phase, raw in wire.messages:
            started = timer()
            message = Request.FromString(raw)
            parsed = timer()
            responses = await stream.handle(message)
            handled = timer()
            for response in responses:
                response.SerializeToString()
            serialised = timer()
            totals[WIRE] += (parsed - started) + (serialised - handled)
            totals[phase] += handled - parsed
            gaps[WIRE] += 2
            gaps[phase] += 1
        started = timer()
        stream.close()
        totals["close"] += timer() - started
        gaps["close"] += 1
    measured = len(wires) - warmup
    timer_call_ns = _timer_call_ns()
    return {
        key: max(0.0, (total_ns - timer_call_ns * gaps[key]) / measured / 1000.0)
        for key, total_ns in totals.items()
    }


def measure(profile: str, requests: int, seed: int, prompt_tokens: int, sse_events: int) -> dict[str, float]:
    """Microseconds of process CPU per request, per phase, for one profile (one process, one pass)."""
    warmup = max(50, requests // 10)
    wires = build_requests(seed, requests + warmup, prompt_tokens, sse_events)
    return asyncio.run(_run_with_timeout(profile, wires, seed, warmup))


async def _run_with_timeout(
    profile: str, wires: list[RequestWire], seed: int, warmup: int
) -> dict[str, float]:
    try:
        async with asyncio.timeout(RUN_TIMEOUT_S):
            return await _run_profile(profile, wires, seed, warmup)
    except TimeoutError:
        raise SystemExit(
            f"{profile}: a request waited in flow control for {RUN_TIMEOUT_S:.0f} s (the endpoints looked "
            "saturated); check that the pool's metrics stay fresh and below the profile's thresholds"
        ) from None


def _measure_in_subprocess(src: Path | None, args: argparse.Namespace, profile: str) -> dict[str, float]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH", "")]))
    command = [
        sys.executable, "-m", "bench.micro.picker.request_cost", "--json", "--profile", profile, "--requests", str(args.requests),
        "--seed", str(args.seed), "--prompt-tokens", str(args.prompt_tokens), "--sse-events", str(args.sse_events),
    ]  # fmt: skip
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _best_by_phase(samples: list[dict[str, float]]) -> dict[str, float]:
    # Other processes only ever add CPU time (cache and core contention), so the least is the best estimate.
    return {phase: min(sample[phase] for sample in samples) for phase in samples[0]}


def _print_table(
    profile: str, current: dict[str, float], baseline: dict[str, float] | None, ref: str
) -> None:
    logic_phases = PHASES
    if baseline is None:
        print(f"\n### {profile} profile\n\n| phase | CPU us/request |\n|---|---:|")
        for phase in (*logic_phases, WIRE):
            print(f"| {phase} | {current[phase]:.1f} |")
        print(f"| **picker logic (all but wire)** | **{sum(current[p] for p in logic_phases):.1f}** |")
        return
    print(
        f"\n### {profile} profile\n\n| phase | {ref} us/request | this tree us/request | ratio |\n|---|---:|---:|---:|"
    )
    for phase in (*logic_phases, WIRE):
        ratio = current[phase] / baseline[phase] if baseline[phase] else float("nan")
        print(f"| {phase} | {baseline[phase]:.1f} | {current[phase]:.1f} | {ratio:.2f}x |")
    before = sum(baseline[p] for p in logic_phases)
    after = sum(current[p] for p in logic_phases)
    print(
        f"| **picker logic (all but wire)** | **{before:.1f}** | **{after:.1f}** | **{after / before:.2f}x** |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=600, help="measured requests per run (after warm-up)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="alternating runs per tree; the least per phase is printed"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prompt-tokens", type=int, default=1000)
    parser.add_argument("--sse-events", type=int, default=20)
    parser.add_argument("--profile", choices=sorted(PROFILES), action="append")
    parser.add_argument("--baseline-ref", help="git ref to measure side by side (a temporary worktree)")
    parser.add_argument(
        "--json", action="store_true", help=argparse.SUPPRESS
    )  # one run, for the orchestrator
    args = parser.parse_args()
    profiles = args.profile or sorted(PROFILES)
    if args.json:
        print(json.dumps(measure(profiles[0], args.requests, args.seed, args.prompt_tokens, args.sse_events)))
        return
    print(f"`{command_line()}`\n")
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, {ENDPOINTS} endpoints, "
        f"{args.prompt_tokens}-token prompts, SSE with {args.sse_events} events on half the requests; "
        f"least of {args.rounds} alternating runs of {args.requests} requests per phase"
    )
    with (
        tempfile.TemporaryDirectory(prefix="picker-baseline-") as scratch,
        baseline_source(args.baseline_ref, Path(scratch)) as baseline_src,
    ):
        for profile in profiles:
            current_runs, baseline_runs = [], []
            for _ in range(args.rounds):
                current_runs.append(_measure_in_subprocess(REPO_ROOT / "picker" / "src", args, profile))
                if baseline_src is not None:
                    baseline_runs.append(_measure_in_subprocess(baseline_src, args, profile))
            _print_table(
                profile,
                _best_by_phase(current_runs),
                _best_by_phase(baseline_runs) if baseline_runs else None,
                args.baseline_ref or "",
            )


if __name__ == "__main__":
    main()
