"""Readers for Envoy's ProcessingRequests: headers, subset hint, served endpoint, announced body modes."""

from __future__ import annotations

import pytest
from envoy.config.core.v3.base_pb2 import HeaderMap, HeaderValue
from envoy.service.ext_proc.v3.external_processor_pb2 import HttpHeaders, ProcessingRequest
from google.protobuf.struct_pb2 import Struct
from picker.server.envoy_requests import (
    BodyMode,
    announced_body_modes,
    header_map_to_dict,
    served_endpoint,
    subset_hint,
)


def with_metadata(namespace: str, fields: dict) -> ProcessingRequest:
    request = ProcessingRequest(request_headers=HttpHeaders())
    struct = Struct()
    struct.update(fields)
    request.metadata_context.filter_metadata[namespace].CopyFrom(struct)
    return request


def test_headers_prefer_raw_value_lower_case_names_and_join_repeats():
    header_map = HeaderMap(
        headers=[
            HeaderValue(key="Accept", raw_value=b"text/plain"),
            HeaderValue(key="accept", value="application/json"),
            HeaderValue(key=":path", raw_value=b"/v1/completions"),
        ]
    )
    assert header_map_to_dict(header_map) == {
        "accept": "text/plain,application/json",
        ":path": "/v1/completions",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["10.0.0.1:8000", "10.0.0.2:8000"], ("10.0.0.1:8000", "10.0.0.2:8000")),
        ([], ()),
        ("10.0.0.1:8000, 10.0.0.3:8000", ("10.0.0.1:8000", "10.0.0.3:8000")),
    ],
    ids=["list", "empty list", "comma string"],
)
def test_subset_hint(value, expected):
    request = with_metadata("envoy.lb.subset_hint", {"x-gateway-destination-endpoint-subset": value})
    assert subset_hint(request) == expected


def test_no_subset_hint_means_none_and_other_keys_are_ignored():
    assert subset_hint(ProcessingRequest()) is None
    assert subset_hint(with_metadata("envoy.lb.subset_hint", {"something-else": ["1.2.3.4:1"]})) is None


def test_served_endpoint():
    request = with_metadata("envoy.lb", {"x-gateway-destination-endpoint-served": "10.0.0.2:8000"})
    assert served_endpoint(request) == "10.0.0.2:8000"
    assert served_endpoint(ProcessingRequest()) is None


def _with_protocol_config(payload: bytes) -> ProcessingRequest:
    raw = ProcessingRequest(request_headers=HttpHeaders()).SerializeToString()
    return ProcessingRequest.FromString(raw + bytes([11 << 3 | 2, len(payload)]) + payload)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (bytes([1 << 3, 4, 2 << 3, 4]), (BodyMode.FULL_DUPLEX_STREAMED, BodyMode.FULL_DUPLEX_STREAMED)),
        (bytes([1 << 3, 2]), (BodyMode.BUFFERED, BodyMode.NONE)),
        # A later field (3: send_body_without_waiting_for_header_response = true) is skipped.
        (bytes([1 << 3, 2, 2 << 3, 0, 3 << 3, 1]), (BodyMode.BUFFERED, BodyMode.NONE)),
    ],
    ids=["full duplex both ways", "buffered request only", "extra field"],
)
def test_announced_body_modes(payload, expected):
    assert announced_body_modes(_with_protocol_config(payload)) == expected


def test_no_or_garbled_protocol_config():
    assert announced_body_modes(ProcessingRequest(request_headers=HttpHeaders())) is None
    assert announced_body_modes(_with_protocol_config(bytes([1 << 3, 99]))) is None  # unknown mode number
