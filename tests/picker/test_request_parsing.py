"""request_parsing: headers and body bytes -> InferenceRequest, and the 400s for bad bodies."""

from __future__ import annotations

import json

import pytest
from picker.errors import ErrorCode, PickerError
from picker.request_parsing import bodyless_request, parse_inference_request, parse_request_headers


def headers(**extra: str):
    return parse_request_headers({"Content-Type": "application/json", **extra}, new_request_id="new-id")


def test_control_headers_are_read_and_removed_case_insensitively():
    parsed = parse_request_headers(
        {
            "X-Gateway-Inference-Objective": "premium",
            "x-gateway-model-name-rewrite": "adapter-1",
            "X-GATEWAY-INFERENCE-FAIRNESS-ID": "tenant-3",
            "x-gateway-destination-endpoint": "6.6.6.6:80",
            "X-Request-Id": "abc",
            "Accept": "*/*",
        },
        new_request_id="unused",
    )
    assert (parsed.objective, parsed.model_rewrite, parsed.fairness_id) == (
        "premium",
        "adapter-1",
        "tenant-3",
    )
    assert (parsed.request_id, parsed.request_id_generated) == ("abc", False)
    assert dict(parsed.headers) == {"x-request-id": "abc", "accept": "*/*"}


def test_request_id_maker_is_called_only_when_the_client_sent_none():
    made: list[str] = []

    def make_id() -> str:
        made.append("generated")
        return "generated"

    assert parse_request_headers({"x-request-id": "client"}, make_id).request_id == "client"
    assert made == []
    assert parse_request_headers({"x-request-id": "  "}, make_id).request_id == "generated"
    assert made == ["generated"]


def test_already_lowercased_names_parse_the_same():
    raw = {"x-gateway-inference-objective": "premium", "accept": "*/*"}
    parsed = parse_request_headers(raw, "new-id", names_lowercased=True)
    assert parsed == parse_request_headers(raw, "new-id")
    assert dict(parsed.headers) == {"accept": "*/*", "x-request-id": "new-id"}
    assert raw == {"x-gateway-inference-objective": "premium", "accept": "*/*"}  # the caller's, untouched


def test_defaults_when_no_control_headers_and_request_id_generated():
    parsed = headers()
    assert (parsed.objective, parsed.model_rewrite, parsed.fairness_id) == (None, None, "default-flow")
    assert (parsed.request_id, parsed.request_id_generated) == ("new-id", True)
    assert parsed.headers["x-request-id"] == "new-id"


def test_completions_body():
    body = json.dumps({"model": "m", "prompt": "Hello", "stream": True, "cache_salt": "s1"}).encode()
    request = parse_inference_request(headers(), body, subset_hint=("10.0.0.1:8000",))
    assert (request.model, request.target_model, request.prompt_text) == ("m", "m", "Hello")
    assert (request.streaming, request.cache_salt, request.body_size_bytes) == (True, "s1", len(body))
    assert request.subset_hint == ("10.0.0.1:8000",)
    assert request.body == {"model": "m", "prompt": "Hello", "stream": True, "cache_salt": "s1"}


def test_completions_prompt_list_is_hashed_as_one_text():
    request = parse_inference_request(headers(), b'{"model": "m", "prompt": ["ab", "cd"]}')
    assert request.prompt_text == "abcd"


def test_chat_prompt_text_is_the_compact_json_of_messages():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Grüß dich"}]
    request = parse_inference_request(headers(), json.dumps({"model": "m", "messages": messages}).encode())
    assert request.prompt_text == json.dumps(messages, separators=(",", ":"), ensure_ascii=False)
    assert request.streaming is False


def test_model_rewrite_sets_the_target_model_but_leaves_the_body_to_the_director():
    request = parse_inference_request(
        parse_request_headers({"x-gateway-model-name-rewrite": "adapter"}, "id"),
        b'{"model": "m", "prompt": "x"}',
    )
    assert (request.model, request.target_model, request.body["model"]) == ("m", "adapter", "m")


def test_stream_must_be_literally_true():
    request = parse_inference_request(headers(), b'{"model": "m", "prompt": "x", "stream": "yes"}')
    assert request.streaming is False


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'"text"', "must be a JSON object, got str"),
        (b"[]", "must be a JSON object, got list"),
        (b'{"prompt": "x"}', "model not found in request body"),
        (b'{"model": 3, "prompt": "x"}', "'model' must be a non-empty string"),
        (b'{"model": "", "prompt": "x"}', "'model' must be a non-empty string"),
        (b'{"model": "m"}', "neither the completions shape"),
        (b'{"model": "m", "messages": []}', "no messages"),
        (b'{"model": "m", "messages": "hi"}', "'messages' must be a list"),
        (b'{"model": "m", "messages": ["hi"]}', "every entry of 'messages' must be an object"),
        (b'{"model": "m", "prompt": 5}', "'prompt' must be a string"),
        (b'{"model": "m", "prompt": []}', "'prompt' must be a string"),
        (b'{"model": "m", "prompt": "x", "cache_salt": 1}', "'cache_salt' must be a string"),
    ],
    ids=[
        "truncated JSON",
        "not UTF-8",
        "string body",
        "array body",
        "missing model",
        "numeric model",
        "empty model",
        "neither shape",
        "empty messages",
        "messages not a list",
        "message not an object",
        "numeric prompt",
        "empty prompt list",
        "numeric cache_salt",
    ],
)
def test_bad_bodies_are_400s_naming_the_problem(body, message_part):
    with pytest.raises(PickerError) as raised:
        parse_inference_request(headers(), body)
    assert raised.value.code is ErrorCode.BAD_REQUEST
    assert raised.value.http_status == 400
    assert message_part in raised.value.message


def test_bodyless_request_keeps_identity_and_hint():
    request = bodyless_request(headers(**{"x-gateway-inference-objective": "o"}), subset_hint=())
    assert (request.request_id, request.model, request.objective, request.subset_hint) == (
        "new-id",
        "",
        "o",
        (),
    )


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16-le", "utf-16", "utf-32-be"])
def test_bodies_in_every_json_encoding_parse_alike(encoding: str):
    text = json.dumps({"model": "m", "prompt": "caf\u00e9 \u6f22\u5b57"}, ensure_ascii=False)
    request = parse_inference_request(headers(), text.encode(encoding))
    assert (request.model, request.prompt_text) == ("m", "caf\u00e9 \u6f22\u5b57")


def test_invalid_utf8_is_a_bad_request():
    with pytest.raises(PickerError) as raised:
        parse_inference_request(headers(), b'{"model": "m", "prompt": "\xff"}')
    assert raised.value.code is ErrorCode.BAD_REQUEST
    assert "not valid JSON" in raised.value.message


def test_llm_d_headers_win_over_their_x_gateway_aliases_and_both_are_removed():
    parsed = parse_request_headers(
        {
            "X-LLM-D-Inference-Objective": "critical",
            "x-gateway-inference-objective": "batch",
            "x-llm-d-inference-fairness-id": "tenant-new",
            "x-gateway-inference-fairness-id": "tenant-old",
            "x-llm-d-model-name-rewrite": "model-b",
            "x-gateway-model-name-rewrite": "model-a",
        },
        "new-id",
    )
    assert (parsed.objective, parsed.fairness_id, parsed.model_rewrite) == (
        "critical",
        "tenant-new",
        "model-b",
    )
    assert not [name for name in parsed.headers if name.startswith(("x-llm-d-", "x-gateway-"))]


def test_the_x_gateway_aliases_alone_still_work():
    parsed = parse_request_headers(
        {"x-gateway-inference-objective": "batch", "x-gateway-inference-fairness-id": "t"}, "new-id"
    )
    assert (parsed.objective, parsed.fairness_id) == ("batch", "t")


def test_a_present_but_empty_llm_d_header_shadows_its_alias_as_in_v0_10():
    parsed = parse_request_headers(
        {"x-llm-d-inference-objective": "", "x-gateway-inference-objective": "batch"}, "new-id"
    )
    assert parsed.objective is None
