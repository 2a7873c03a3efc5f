"""Protocol tests at the gRPC level: a real grpc.aio server and stub, Envoy's messages, a recording director."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from envoy.service.ext_proc.v3.external_processor_pb2 import HttpTrailers, ProcessingRequest
from extproc_messages import (
    completion_body,
    lb_metadata,
    read,
    removed_headers,
    request_body,
    request_headers,
    request_trailers,
    response_body,
    response_headers,
    route_completion,
    set_headers,
    streamed_chunks,
)
from picker.errors import ErrorCode, PickerError
from picker.framework.types import Endpoint, ResponseUsage
from picker.server.envoy_requests import BodyMode
from picker.server.ext_proc import ExtProcSettings

from tests.picker.recording_director import RecordedRoute

ENDPOINT_A = Endpoint(name="pod-a-rank-0", address="10.0.0.1", port=8000)
ENDPOINT_B = Endpoint(name="pod-b-rank-0", address="10.0.0.2", port=8000)
BUFFERED = ExtProcSettings(request_body_mode=BodyMode.BUFFERED, response_body_mode=BodyMode.BUFFERED)


async def test_full_duplex_holds_headers_until_the_body_completes_then_streams_it(
    ext_proc_stub, recording_director
):
    body = completion_body(prompt="x" * 1000)
    async with ext_proc_stub(recording_director) as stub:
        call = stub.Process()
        await call.write(request_headers({"x-request-id": "req-1"}))
        for start in range(0, len(body), 300):  # the body arrives in four chunks
            await call.write(request_body(body[start : start + 300], end_of_stream=False))
        await call.write(request_body(b"", end_of_stream=True))
        headers_answer, body_answer = await read(call, 2)

        assert headers_answer.WhichOneof("response") == "request_headers"
        assert headers_answer.request_headers.response.clear_route_cache
        assert set_headers(headers_answer) == {
            "x-gateway-destination-endpoint": "10.0.0.1:8000",
            "content-length": str(len(body)),
        }
        assert lb_metadata(headers_answer) == {
            "envoy.lb": {"x-gateway-destination-endpoint": "10.0.0.1:8000"}
        }
        assert streamed_chunks([body_answer]) == [(body, True)]  # unchanged body: the client's bytes
        request = recording_director.requests()[0]
        assert (request.request_id, request.model, request.prompt_text) == ("req-1", "base-model", "x" * 1000)
        assert request.body_size_bytes == len(body)

        await call.write(response_headers({":status": "200", "content-type": "application/json"}))
        (answer,) = await read(call)
        assert answer.WhichOneof("response") == "response_headers"
        upstream = json.dumps({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}).encode()
        await call.write(response_body(upstream[:10], end_of_stream=False))
        await call.write(response_body(upstream[10:], end_of_stream=False))
        await call.write(response_body(b"", end_of_stream=True))  # Envoy's separate end of stream
        answers = await read(call, 1)  # a JSON body is held and answered once, whole
        assert streamed_chunks(answers) == [(upstream, True)]
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF

    assert recording_director.names() == ["route", "response_started", "response_complete", "release"]
    assert recording_director.calls[1][1] == (200, False)
    assert recording_director.calls[2][1] == (None, ResponseUsage(7, 3), len(upstream))


async def test_body_over_62_kb_is_sent_back_in_62_kb_chunks_with_eos_on_the_last(
    ext_proc_stub, recording_director
):
    body = completion_body(prompt="p" * 200_000)
    async with ext_proc_stub(recording_director) as stub:
        call = stub.Process()
        await call.write(request_headers())
        for start in range(0, len(body), 16_384):
            end = start + 16_384
            await call.write(request_body(body[start:end], end_of_stream=end >= len(body)))
        expected_chunks = -(-len(body) // 62_000)
        answers = await read(call, 1 + expected_chunks)
        chunks = streamed_chunks(answers[1:])
        assert all(len(chunk) <= 62_000 for chunk, _ in chunks)
        assert [eos for _, eos in chunks] == [False] * (expected_chunks - 1) + [True]
        assert b"".join(chunk for chunk, _ in chunks) == body
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF
    assert recording_director.names() == ["route", "release"]


async def test_model_rewrite_reserialises_the_body_and_control_headers_are_removed(
    ext_proc_stub, recording_director
):
    body = completion_body(model="base-model")
    control = {
        "x-gateway-inference-objective": "premium",
        "x-gateway-model-name-rewrite": "adapter-1",
        "x-gateway-inference-fairness-id": "tenant-7",
    }
    async with ext_proc_stub(recording_director) as stub:
        call = stub.Process()
        await call.write(request_headers(control))
        await call.write(request_body(body, end_of_stream=True))
        headers_answer, body_answer = await read(call, 2)
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF

    forwarded = streamed_chunks([body_answer])[0][0]
    assert json.loads(forwarded) == {"model": "adapter-1", "prompt": "hello"}
    assert set_headers(headers_answer)["content-length"] == str(len(forwarded))
    assert sorted(removed_headers(headers_answer)) == sorted(control)
    request = recording_director.requests()[0]
    assert (request.objective, request.fairness_id, request.target_model) == (
        "premium",
        "tenant-7",
        "adapter-1",
    )
    assert not set(control) & set(request.headers)


async def test_client_sent_destination_is_overwritten_and_never_reaches_the_director(
    ext_proc_stub, recording_director
):
    async with ext_proc_stub(recording_director) as stub:
        call = stub.Process()
        await call.write(request_headers({"x-gateway-destination-endpoint": "6.6.6.6:80"}))
        await call.write(request_body(completion_body(), end_of_stream=True))
        headers_answer, _ = await read(call, 2)
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF
    assert set_headers(headers_answer)["x-gateway-destination-endpoint"] == "10.0.0.1:8000"
    assert "x-gateway-destination-endpoint" not in recording_director.requests()[0].headers


async def test_request_id_is_generated_and_injected_when_absent(ext_proc_stub, recording_director):
    async with ext_proc_stub(recording_director) as stub:
        call = stub.Process()
        headers_answer, _ = await route_completion(call)
        await call.done_writing()
    assert set_headers(headers_answer)["x-request-id"] == "generated-id"
    assert recording_director.requests()[0].request_id == "generated-id"


async def test_fallback_endpoints_are_one_comma_list_in_header_and_metadata(
    ext_proc_stub, recording_director
):
    director = type(recording_director)(endpoints=(ENDPOINT_A, ENDPOINT_B))
    async with ext_proc_stub(director) as stub:
        call = stub.Process()
        headers_answer, _ = await route_completion(call)
        await call.done_writing()
    assert set_headers(headers_answer)["x-gateway-destination-endpoint"] == "10.0.0.1:8000,10.0.0.2:8000"
    assert (
        lb_metadata(headers_answer)["envoy.lb"]["x-gateway-destination-endpoint"]
        == "10.0.0.1:8000,10.0.0.2:8000"
    )


async def test_buffered_mode_answers_headers_at_once_and_routes_in_the_body_answer(
    ext_proc_stub, recording_director
):
    body = completion_body()
    async with ext_proc_stub(recording_director, BUFFERED) as stub:
        call = stub.Process()
        await call.write(request_headers({"x-gateway-model-name-rewrite": "adapter-2"}))
        (headers_answer,) = await read(call)
        assert headers_answer.WhichOneof("response") == "request_headers"
        assert not headers_answer.request_headers.response.header_mutation.set_headers
        await call.write(request_body(body, end_of_stream=True))
        (body_answer,) = await read(call)
        assert body_answer.WhichOneof("response") == "request_body"
        common = body_answer.request_body.response
        assert common.clear_route_cache
        assert json.loads(common.body_mutation.body)["model"] == "adapter-2"
        assert set_headers(body_answer)["x-gateway-destination-endpoint"] == "10.0.0.1:8000"
        assert set_headers(body_answer)["content-length"] == str(len(common.body_mutation.body))
        assert removed_headers(body_answer) == ["x-gateway-model-name-rewrite"]
        assert lb_metadata(body_answer)["envoy.lb"]["x-gateway-destination-endpoint"] == "10.0.0.1:8000"

        await call.write(response_headers({":status": "200", "content-type": "application/json"}))
        await read(call)
        await call.write(response_body(b'{"usage": {"prompt_tokens": 2, "completion_tokens": 5}}', True))
        (answer,) = await read(call)
        assert answer.WhichOneof("response") == "response_body"
        assert not answer.response_body.response.HasField("body_mutation")  # passed through untouched
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF
    assert recording_director.calls[2][1][1] == ResponseUsage(2, 5)


async def test_buffered_mode_without_rewrite_leaves_the_body_alone(ext_proc_stub, recording_director):
    async with ext_proc_stub(recording_director, BUFFERED) as stub:
        call = stub.Process()
        await call.write(request_headers())
        await read(call)
        await call.write(request_body(completion_body(), end_of_stream=True))
        (body_answer,) = await read(call)
        await call.done_writing()
    assert not body_answer.request_body.response.HasField("body_mutation")


async def test_announced_protocol_config_overrides_the_default_mode(ext_proc_stub, recording_director):
    # protocol_config (field 11) = {request_body_mode: BUFFERED(2), response_body_mode: BUFFERED(2)},
    # appended as raw bytes because the installed xds-protos predates the field.
    message = request_headers()
    raw = message.SerializeToString() + bytes([11 << 3 | 2, 4, 1 << 3, 2, 2 << 3, 2])
    announced = ProcessingRequest.FromString(raw)
    async with ext_proc_stub(recording_director) as stub:  # default FULL_DUPLEX_STREAMED
        call = stub.Process()
        await call.write(announced)
        (headers_answer,) = await read(call)  # BUFFERED: answered before any body
        assert headers_answer.WhichOneof("response") == "request_headers"
        await call.done_writing()


async def test_get_without_body_is_routed_by_pick_any_at_the_headers_phase(ext_proc_stub, recording_director):
    async with ext_proc_stub(recording_director) as stub:
        call = stub.Process()
        await call.write(request_headers({":path": "/v1/models"}, end_of_stream=True, method="GET"))
        (answer,) = await read(call)
        await call.write(response_headers({":status": "200"}, end_of_stream=True))
        await read(call)
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF
    assert set_headers(answer)["x-gateway-destination-endpoint"] == "10.0.0.1:8000"
    assert answer.request_headers.response.clear_route_cache
    # No route, so no response hooks; release still drops whatever pick_any recorded.
    assert recording_director.names() == ["pick_any"]  # nothing held: no release


async def test_get_with_no_endpoints_is_a_500(ext_proc_stub, recording_director):
    recording_director.pick_any_error = PickerError(ErrorCode.INTERNAL, "no ready endpoints")
    async with ext_proc_stub(recording_director) as stub:
        call = stub.Process()
        await call.write(request_headers(end_of_stream=True, method="GET"))
        (answer,) = await read(call)
        assert await call.read() == grpc.aio.EOF
    assert answer.immediate_response.status.code == 500


@pytest.mark.parametrize(
    ("metadata", "expected_hint"),
    [
        ({}, None),
        (
            {"envoy.lb.subset_hint": {"x-gateway-destination-endpoint-subset": ["10.0.0.2:8000"]}},
            ("10.0.0.2:8000",),
        ),
        ({"envoy.lb.subset_hint": {"x-gateway-destination-endpoint-subset": []}}, ()),
    ],
    ids=["no hint", "one endpoint", "empty hint"],
)
async def test_subset_hint_from_metadata_context_reaches_the_request(
    ext_proc_stub, recording_director, metadata, expected_hint
):
    async with ext_proc_stub(recording_director) as stub:
        call = stub.Process()
        await call.write(request_headers(metadata=metadata))
        await call.write(request_body(completion_body(), end_of_stream=True))
        await read(call, 2)
        await call.done_writing()
    assert recording_director.requests()[0].subset_hint == expected_hint


@pytest.mark.parametrize(
    ("body", "status", "message_part"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"prompt": "hi"}', 400, "model not found"),
        (b'{"model": "m"}', 400, "neither the completions shape"),
        (b'{"model": "m", "messages": []}', 400, "no messages"),
    ],
    ids=["malformed JSON", "array body", "missing model", "neither shape", "empty messages"],
)
async def test_bad_bodies_get_an_immediate_openai_style_400(
    ext_proc_stub, recording_director, body, status, message_part
):
    async with ext_proc_stub(recording_director) as stub:
        call = stub.Process()
        await call.write(request_headers())
        await call.write(request_body(body, end_of_stream=True))
        (answer,) = await read(call)
        assert await call.read() == grpc.aio.EOF
    immediate = answer.immediate_response
    assert immediate.status.code == status
    error = json.loads(immediate.body)["error"]
    assert message_part in error["message"]
    assert (error["type"], error["code"]) == ("invalid_request_error", 400)
    assert {o.header.key: o.header.raw_value for o in immediate.headers.set_headers} == {
        "content-type": b"application/json"
    }
    assert recording_director.names() == []  # never reached the director, so nothing to release


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (PickerError(ErrorCode.RESOURCE_EXHAUSTED, "system saturated, sheddable request dropped"), 429),
        (PickerError(ErrorCode.SERVICE_UNAVAILABLE, "no candidate endpoints"), 503),
        (PickerError(ErrorCode.INTERNAL, "empty scheduling result"), 500),
    ],
    ids=["shed 429", "no endpoints 503", "internal 500"],
)
async def test_director_errors_become_immediate_responses_and_hold_nothing(
    ext_proc_stub, recording_director, error, status
):
    recording_director.route_error = error
    async with ext_proc_stub(recording_director) as stub:
        call = stub.Process()
        await call.write(request_headers())
        await call.write(request_body(completion_body(), end_of_stream=True))
        (answer,) = await read(call)
        assert await call.read() == grpc.aio.EOF
    assert answer.immediate_response.status.code == status
    assert json.loads(answer.immediate_response.body)["error"]["code"] == status
    assert recording_director.names() == ["route"]  # a refused request holds nothing to release


async def test_a_director_bug_becomes_a_500_and_the_server_keeps_serving(ext_proc_stub, recording_director):
    class Broken(type(recording_director)):
        async def route(self, request):
            self.calls.append(("route", request))
            raise KeyError("bug")

    broken = Broken()
    async with ext_proc_stub(broken) as stub:
        for _ in range(2):
            call = stub.Process()
            await call.write(request_headers())
            await call.write(request_body(completion_body(), end_of_stream=True))
            (answer,) = await read(call)
            assert answer.immediate_response.status.code == 500
            assert await call.read() == grpc.aio.EOF
    assert broken.names() == ["route", "route"]


async def test_client_disconnect_while_routing_cancels_route_and_holds_nothing(ext_proc_stub, recording_director):
    recording_director.route_gate = asyncio.Event()
    async with ext_proc_stub(recording_director) as stub:
        call = stub.Process()
        await call.write(request_headers())
        await call.write(request_body(completion_body(), end_of_stream=True))
        async with asyncio.timeout(5):
            while "route" not in recording_director.names():
                await asyncio.sleep(0.01)
        call.cancel()
        async with asyncio.timeout(5):
            while "route_cancelled" not in recording_director.names():
                await asyncio.sleep(0.01)
    assert recording_director.names() == ["route", "route_cancelled"]


async def test_sse_response_passes_through_and_usage_is_read_from_the_last_data_line(
    ext_proc_stub, recording_director
):
    events = (
        b'data: {"choices":[{"text":"a"}]}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":4,"total_tokens":15}}\n\n'
        b"data: [DONE]\n\n"
    )
    served = {"envoy.lb": {"x-gateway-destination-endpoint-served": "10.0.0.1:8000"}}
    async with ext_proc_stub(recording_director) as stub:
        call = stub.Process()
        await call.write(request_headers())
        await call.write(request_body(completion_body(stream=True), end_of_stream=True))
        await read(call, 2)
        await call.write(
            response_headers({":status": "200", "content-type": "text/event-stream"}, metadata=served)
        )
        await read(call)
        pieces = [events[:20], events[20:70], events[70:]]  # split mid-line
        for index, piece in enumerate(pieces):
            await call.write(response_body(piece, end_of_stream=index == len(pieces) - 1))
        answers = await read(call, 3)
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF
    assert b"".join(chunk for chunk, _ in streamed_chunks(answers)) == events
    assert recording_director.requests()[0].streaming
    assert recording_director.calls[1][1] == (200, True)
    assert recording_director.calls[2][1] == (ENDPOINT_A, ResponseUsage(11, 4), len(events))


async def test_upstream_error_status_is_reported_and_unparseable_json_passes(
    ext_proc_stub, recording_director
):
    async with ext_proc_stub(recording_director) as stub:
        call = stub.Process()
        await route_completion(call)
        await call.write(response_headers({":status": "503", "content-type": "application/json"}))
        await read(call)
        await call.write(response_body(b"upstream exploded", end_of_stream=True))
        (answer,) = await read(call)
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF
    assert streamed_chunks([answer]) == [(b"upstream exploded", True)]
    assert recording_director.calls[1][1] == (503, False)
    assert recording_director.calls[2][1] == (None, ResponseUsage(), len(b"upstream exploded"))


async def test_body_ended_by_trailers_keeps_eos_for_the_trailers_answer(ext_proc_stub, recording_director):
    body = completion_body()
    async with ext_proc_stub(recording_director) as stub:
        call = stub.Process()
        await call.write(request_headers())
        await call.write(request_body(body, end_of_stream=False))
        await call.write(request_trailers())
        headers_answer, body_answer, trailers_answer = await read(call, 3)
        await call.done_writing()
    assert headers_answer.WhichOneof("response") == "request_headers"
    assert streamed_chunks([body_answer]) == [(body, False)]
    assert trailers_answer.WhichOneof("response") == "request_trailers"


async def test_failing_response_hooks_do_not_stop_the_response(ext_proc_stub, recording_director):
    class HookFails(RecordedRoute):
        def response_started(self, status, streaming):
            raise RuntimeError("metrics bug")

    class Director(type(recording_director)):
        async def route(self, request):
            routed = await super().route(request)
            return HookFails(routed.decision, self.calls, request)

    director = Director()
    async with ext_proc_stub(director) as stub:
        call = stub.Process()
        await route_completion(call)
        await call.write(response_headers({":status": "200"}))
        (answer,) = await read(call)
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF
    assert answer.WhichOneof("response") == "response_headers"
    assert director.names() == ["route", "release"]


async def test_response_body_mode_none_completes_the_response_when_the_stream_ends(
    ext_proc_stub, recording_director
):
    settings = ExtProcSettings(response_body_mode=BodyMode.NONE)
    async with ext_proc_stub(recording_director, settings) as stub:
        call = stub.Process()
        await route_completion(call)
        await call.write(response_headers({":status": "200", "content-type": "application/json"}))
        await read(call)
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF
    assert recording_director.names() == ["route", "response_started", "response_complete", "release"]
    assert recording_director.calls[2][1] == (None, ResponseUsage(), 0)


async def test_a_json_response_over_62_kb_is_re_chunked_at_the_end(ext_proc_stub, recording_director):
    upstream = json.dumps(
        {"text": "y" * 150_000, "usage": {"prompt_tokens": 1, "completion_tokens": 9}}
    ).encode()
    async with ext_proc_stub(recording_director) as stub:
        call = stub.Process()
        await route_completion(call)
        await call.write(response_headers({":status": "200", "content-type": "application/json"}))
        await read(call)
        for start in range(0, len(upstream), 16_384):
            end = start + 16_384
            await call.write(response_body(upstream[start:end], end_of_stream=end >= len(upstream)))
        answers = await read(call, 3)
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF
    chunks = streamed_chunks(answers)
    assert [len(chunk) for chunk, _ in chunks] == [62_000, 62_000, len(upstream) - 124_000]
    assert [eos for _, eos in chunks] == [False, False, True]
    assert b"".join(chunk for chunk, _ in chunks) == upstream
    assert recording_director.calls[2][1][1] == ResponseUsage(1, 9)


async def test_a_held_json_body_is_released_before_the_trailers_answer(ext_proc_stub, recording_director):
    async with ext_proc_stub(recording_director) as stub:
        call = stub.Process()
        await route_completion(call)
        await call.write(response_headers({":status": "200", "content-type": "application/json"}))
        await read(call)
        await call.write(response_body(b'{"ok": true}', end_of_stream=False))
        await call.write(ProcessingRequest(response_trailers=HttpTrailers()))
        body_answer, trailers_answer = await read(call, 2)
        await call.done_writing()
    assert streamed_chunks([body_answer]) == [(b'{"ok": true}', False)]
    assert trailers_answer.WhichOneof("response") == "response_trailers"
