"""CPU the picker's protocol layer (RequestStream: parse Envoy's messages, build the answers) spends per
request, without gRPC and without scheduling: a stub director answers at once, so only ``server/`` code
and protobuf (de)serialisation are measured.

Run from the repository root:

    .venv/bin/python -m bench.micro.picker.protocol_cost

Each scenario replays the ProcessingRequests Envoy sends for one HTTP request in FULL_DUPLEX_STREAMED
mode, deserialised from bytes and answered responses serialised, as grpc does. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from envoy.config.core.v3.base_pb2 import HeaderMap, HeaderValue
from envoy.service.ext_proc.v3.external_processor_pb2 import HttpBody, HttpHeaders, ProcessingRequest
from google.protobuf.struct_pb2 import Struct
from picker.framework.types import Endpoint, InferenceRequest, ResponseUsage, RoutingDecision
from picker.request_director import RoutedRequest
from picker.server.ext_proc_settings import ExtProcSettings
from picker.server.request_stream import RequestStream

from bench.micro.command_line import command_line

_ENDPOINT = Endpoint(name="e0", address="10.0.0.1", port=8000)


class _InstantDirector:
    """Routes every request to one endpoint at once: no scheduling cost in the measurement."""

    async def route(self, request: InferenceRequest) -> RoutedRequest:
        return _InstantRoute(RoutingDecision(endpoints=(_ENDPOINT,), body=request.body))

    def pick_any(self, request: InferenceRequest) -> RoutingDecision:
        return RoutingDecision(endpoints=(_ENDPOINT,), body={})


class _InstantRoute(RoutedRequest):
    """Holds nothing: the response-side calls and the release cost nothing."""

    def response_started(self, status: int, streaming: bool) -> None:
        pass

    def response_complete(self, served: Endpoint | None, usage: ResponseUsage, response_bytes: int) -> None:
        pass

    def _release(self) -> None:
        pass


def _headers(values: dict[str, str], end_of_stream: bool = False) -> HttpHeaders:
    return HttpHeaders(
        headers=HeaderMap(headers=[HeaderValue(key=k, raw_value=v.encode()) for k, v in values.items()]),
        end_of_stream=end_of_stream,
    )


def _with_served_metadata(message: ProcessingRequest) -> ProcessingRequest:
    # Envoy forwards the envoy.lb namespace (the picker's own answer) on every message.
    struct = Struct()
    struct.update({"x-gateway-destination-endpoint": _ENDPOINT.hostport})
    message.metadata_context.filter_metadata["envoy.lb"].CopyFrom(struct)
    return message


def envoy_messages(sse_events: int) -> list[bytes]:
    """What Envoy sends for one request: JSON response when ``sse_events`` is 0, else that many SSE events."""
    prompt = " ".join(["gateway", "replica", "prefix", "cache", "token"] * 30)
    body = json.dumps({"model": "m", "prompt": prompt, "max_tokens": 1, "stream": sse_events > 0}).encode()
    request_headers = {
        ":method": "POST", ":path": "/v1/completions", ":authority": "gateway", ":scheme": "http",
        "content-type": "application/json", "content-length": str(len(body)), "user-agent": "bench",
        "x-forwarded-proto": "http", "x-request-id": "0b0e6f1e-2a59-4b0a-9f0c-5a1c3f3c2d11",
    }  # fmt: skip
    messages = [
        ProcessingRequest(request_headers=_headers(request_headers)),
        ProcessingRequest(request_body=HttpBody(body=body, end_of_stream=True)),
    ]
    content_type = "text/event-stream" if sse_events else "application/json"
    response_headers = {
        ":status": "200",
        "content-type": content_type,
        "date": "Sat, 21 Nov 2026 22:00:00 GMT",
    }
    messages.append(_with_served_metadata(ProcessingRequest(response_headers=_headers(response_headers))))
    if sse_events:
        for index in range(sse_events):
            event = {
                "id": "cmpl-1",
                "object": "text_completion",
                "choices": [{"index": 0, "text": f" t{index}"}],
            }
            if index == sse_events - 1:
                event["usage"] = {"prompt_tokens": 150, "completion_tokens": sse_events}
            chunk = b"data: " + json.dumps(event).encode() + b"\n\n"
            messages.append(_with_served_metadata(ProcessingRequest(response_body=HttpBody(body=chunk))))
        messages.append(
            _with_served_metadata(ProcessingRequest(response_body=HttpBody(body=b"data: [DONE]\n\n")))
        )
    else:
        reply = json.dumps(
            {"id": "cmpl-1", "object": "text_completion", "choices": [{"index": 0, "text": "ok"}],
             "usage": {"prompt_tokens": 150, "completion_tokens": 1}}
        ).encode()  # fmt: skip
        messages.append(_with_served_metadata(ProcessingRequest(response_body=HttpBody(body=reply))))
    messages.append(
        _with_served_metadata(ProcessingRequest(response_body=HttpBody(body=b"", end_of_stream=True)))
    )
    return [message.SerializeToString() for message in messages]


async def _replay(
    director: _InstantDirector, settings: ExtProcSettings, wire: list[bytes], count: int
) -> int:
    answers = 0
    for request_number in range(count):
        with RequestStream(director, settings, lambda: "generated-id") as stream:
            for raw in wire:
                for response in await stream.handle(ProcessingRequest.FromString(raw)):
                    response.SerializeToString()
                    answers += 1
        del request_number
    return answers


def measure(sse_events: int, requests: int, repeats: int) -> tuple[float, int, int]:
    """(median microseconds of CPU per request, messages in, answers out) for one scenario."""
    wire = envoy_messages(sse_events)
    director, settings = _InstantDirector(), ExtProcSettings()
    asyncio.run(_replay(director, settings, wire, 200))  # warm-up
    samples, answers = [], 0
    for _ in range(repeats):
        started = time.process_time()
        answers = asyncio.run(_replay(director, settings, wire, requests))
        samples.append((time.process_time() - started) / requests * 1e6)
    return statistics.median(samples), len(wire), answers // requests


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sse-events", type=int, default=20)
    args = parser.parse_args()
    print(f"`{command_line()}`\n")
    print("| response | messages in | answers out | protocol CPU us/request | us/message in |")
    print("|---|---:|---:|---:|---:|")
    for label, events in (("JSON", 0), (f"SSE, {args.sse_events} events", args.sse_events)):
        per_request, messages_in, answers_out = measure(events, args.requests, args.repeats)
        print(
            f"| {label} | {messages_in} | {answers_out} | {per_request:.1f} | {per_request / messages_in:.1f} |"
        )


if __name__ == "__main__":
    main()
