"""Turn a request's headers and body bytes into an :class:`InferenceRequest`, or a 400 PickerError.

Pure functions: no I/O, no protobufs. The protocol layer calls :func:`parse_request_headers` once per
stream and then :func:`parse_inference_request` (a body arrived) or :func:`bodyless_request` (GET).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from picker.errors import ErrorCode, PickerError
from picker.framework.types import InferenceRequest
from picker.gateway_protocol import (
    CONTROL_HEADERS,
    DEFAULT_FAIRNESS_ID,
    DESTINATION_ENDPOINT_HEADER,
    FAIRNESS_ID_HEADERS,
    MODEL_NAME_REWRITE_HEADERS,
    OBJECTIVE_HEADERS,
    REQUEST_ID_HEADER,
)

# Compact, order-preserving JSON for chat prompts (equal conversations, equal prefix hashes); one encoder
# instead of json.dumps building a new one per request.
_compact_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

# Headers the picker owns: never passed on to plugins as if the client had a say in them.
_DROPPED_HEADERS = CONTROL_HEADERS | {DESTINATION_ENDPOINT_HEADER}


@dataclass(frozen=True, slots=True)
class RequestHeaders:
    """What the request-headers phase yields: identity, control values and the forwardable headers."""

    request_id: str
    request_id_generated: bool  # True when the client sent none and the picker must inject it
    headers: Mapping[str, str]  # lower-cased; control headers and any client destination removed
    objective: str | None
    fairness_id: str
    model_rewrite: str | None


def parse_request_headers(
    raw_headers: Mapping[str, str],
    new_request_id: str | Callable[[], str],
    *,
    names_lowercased: bool = False,
) -> RequestHeaders:
    """Split the client's headers into control values and the rest.

    Args:
        raw_headers: header name -> value; names in any case.
        new_request_id: the id to use when the client sent no ``x-request-id``, or a function making one,
            called only then (a uuid4 costs more than the rest of this function).
        names_lowercased: the caller already lower-cased every name (``header_map_to_dict`` does).
    """
    headers = (
        dict(raw_headers)
        if names_lowercased
        else {name.lower(): value for name, value in raw_headers.items()}
    )
    client_request_id = headers.get(REQUEST_ID_HEADER, "").strip()
    if client_request_id:
        request_id = client_request_id
    else:
        request_id = new_request_id if isinstance(new_request_id, str) else new_request_id()
    headers[REQUEST_ID_HEADER] = request_id
    objective = _first_present(headers, OBJECTIVE_HEADERS).strip() or None
    fairness_id = _first_present(headers, FAIRNESS_ID_HEADERS).strip() or DEFAULT_FAIRNESS_ID
    model_rewrite = _first_present(headers, MODEL_NAME_REWRITE_HEADERS).strip() or None
    forwardable = {name: value for name, value in headers.items() if name not in _DROPPED_HEADERS}
    return RequestHeaders(
        request_id=request_id,
        request_id_generated=not client_request_id,
        headers=forwardable,
        objective=objective,
        fairness_id=fairness_id,
        model_rewrite=model_rewrite,
    )


def _first_present(headers: Mapping[str, str], names: tuple[str, ...]) -> str:
    """The value of the first of ``names`` the request carries (current name, then deprecated alias), even
    when empty, as llm-d-router v0.10 reads its headers; "" when none is present."""
    for name in names:
        value = headers.get(name)
        if value is not None:
            return value
    return ""


def _bad_request(message: str) -> PickerError:
    return PickerError(ErrorCode.BAD_REQUEST, message)


def _decode_json_object(body: bytes) -> dict[str, Any]:
    try:
        # "{" then a non-zero byte is UTF-8 by json's own encoding detection: decode it here and skip the
        # detection; anything else takes json.loads' own path (BOMs, UTF-16/32).
        utf8 = body[:1] == b"{" and body[1:2] != b"\x00"
        parsed = json.loads(body.decode("utf-8", "surrogatepass") if utf8 else body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _bad_request(f"request body is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise _bad_request(f"request body must be a JSON object, got {type(parsed).__name__}")
    return parsed


def _completions_prompt_text(prompt: object) -> str:
    if isinstance(prompt, str):
        return prompt
    # OpenAI also accepts a batch of strings; hash them in order as one text.
    if isinstance(prompt, list) and prompt and all(isinstance(item, str) for item in prompt):
        return "".join(prompt)
    raise _bad_request("'prompt' must be a string or a non-empty list of strings")


def _chat_prompt_text(messages: object) -> str:
    if not isinstance(messages, list):
        raise _bad_request("'messages' must be a list of message objects")
    if not messages:
        raise _bad_request("chat request has no messages: 'messages' must not be empty")
    if not all(isinstance(message, dict) for message in messages):
        raise _bad_request("every entry of 'messages' must be an object")
    return _compact_json(messages)


def parse_inference_request(
    request_headers: RequestHeaders,
    body: bytes,
    subset_hint: tuple[str, ...] | None = None,
) -> InferenceRequest:
    """Validate an OpenAI completions or chat body and build the request the director schedules.

    Raises:
        PickerError: BAD_REQUEST for invalid JSON, a non-object body, a missing or non-string
            ``model``, a body that is neither completions (``prompt``) nor chat (non-empty
            ``messages``), or a non-string ``cache_salt``.
    """
    parsed = _decode_json_object(body)
    model = parsed.get("model")
    if model is None:
        raise _bad_request("model not found in request body: set 'model' to the model or adapter name")
    if not isinstance(model, str) or not model:
        raise _bad_request("'model' must be a non-empty string")
    if "messages" in parsed:
        prompt_text = _chat_prompt_text(parsed["messages"])
    elif "prompt" in parsed:
        prompt_text = _completions_prompt_text(parsed["prompt"])
    else:
        raise _bad_request(
            "request body matches neither the completions shape ('prompt') nor the chat shape ('messages')"
        )
    cache_salt = parsed.get("cache_salt", "")
    if not isinstance(cache_salt, str):
        raise _bad_request("'cache_salt' must be a string")
    return InferenceRequest(
        request_id=request_headers.request_id,
        model=model,
        target_model=request_headers.model_rewrite or model,
        prompt_text=prompt_text,
        body=parsed,
        headers=request_headers.headers,
        objective=request_headers.objective,
        fairness_id=request_headers.fairness_id,
        cache_salt=cache_salt,
        streaming=parsed.get("stream") is True,
        subset_hint=subset_hint,
        body_size_bytes=len(body),
    )


def bodyless_request(
    request_headers: RequestHeaders, subset_hint: tuple[str, ...] | None = None
) -> InferenceRequest:
    """A request without a body (GET /v1/models, health checks): no model, routed by ``pick_any``."""
    return InferenceRequest(
        request_id=request_headers.request_id,
        model="",
        target_model="",
        prompt_text="",
        body={},
        headers=request_headers.headers,
        objective=request_headers.objective,
        fairness_id=request_headers.fairness_id,
        subset_hint=subset_hint,
    )
