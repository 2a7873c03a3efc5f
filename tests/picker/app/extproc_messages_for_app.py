"""The two ProcessingRequests of a small completions request (FULL_DUPLEX: headers, then the body)."""

from __future__ import annotations

from envoy.config.core.v3.base_pb2 import HeaderMap, HeaderValue
from envoy.service.ext_proc.v3.external_processor_pb2 import HttpBody, HttpHeaders, ProcessingRequest


def completion_request() -> list[ProcessingRequest]:
    headers = HeaderMap(headers=[HeaderValue(key=":method", raw_value=b"POST")])
    return [
        ProcessingRequest(request_headers=HttpHeaders(headers=headers)),
        ProcessingRequest(request_body=HttpBody(body=b'{"model": "m", "prompt": "hi"}', end_of_stream=True)),
    ]
