"""ResponseUsageParser: usage from SSE streams (split anywhere) and JSON bodies; junk is ignored."""

from __future__ import annotations

import json

import pytest
from picker.framework.types import ResponseUsage
from picker.server.response_usage import MAX_BUFFERED_JSON_BYTES, ResponseUsageParser

SSE = (
    b'data: {"choices":[{"text":"Hel"}]}\n\n'
    b'data: {"choices":[{"text":"lo"}]}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}}\n\n'
    b"data: [DONE]\n\n"
)


def feed_in_pieces(parser: ResponseUsageParser, body: bytes, piece_bytes: int) -> ResponseUsage:
    for start in range(0, len(body), piece_bytes):
        parser.feed(body[start : start + piece_bytes])
    return parser.finish()


@pytest.mark.parametrize("piece_bytes", [1, 7, 64, len(SSE)], ids=["1 byte", "7 bytes", "64 bytes", "whole"])
def test_sse_usage_survives_any_chunking(piece_bytes):
    parser = ResponseUsageParser(streaming=True)
    assert feed_in_pieces(parser, SSE, piece_bytes) == ResponseUsage(prompt_tokens=12, completion_tokens=2)
    assert parser.done_seen
    assert parser.body_bytes == len(SSE)


def test_sse_one_event_per_chunk_the_way_model_servers_stream():
    # Whole-line chunks without usage take the parser's skip path; the usage and [DONE] chunks do not.
    parser = ResponseUsageParser(streaming=True)
    for event in SSE.split(b"\n\n")[:-1]:
        parser.feed(event + b"\n\n")
    assert parser.finish() == ResponseUsage(prompt_tokens=12, completion_tokens=2)
    assert parser.done_seen
    assert parser.body_bytes == len(SSE)


def test_sse_usage_split_after_a_whole_line_chunk():
    usage_line = b'data: {"usage":{"prompt_tokens":5,"completion_tokens":4}}\n\n'
    parser = ResponseUsageParser(streaming=True)
    parser.feed(b'data: {"choices":[{"text":"a"}]}\n\n')
    parser.feed(usage_line[:20])  # no newline at the end: kept for the next chunk
    parser.feed(usage_line[20:])
    assert parser.finish() == ResponseUsage(prompt_tokens=5, completion_tokens=4)


def test_sse_crlf_lines_and_a_final_line_without_newline():
    body = b'data: {"usage":{"prompt_tokens":3,"completion_tokens":1}}\r\n\r\ndata: [DONE]'
    parser = ResponseUsageParser(streaming=True)
    assert feed_in_pieces(parser, body, 5) == ResponseUsage(3, 1)
    assert parser.done_seen


def test_json_usage_is_read_at_the_end():
    body = json.dumps({"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 9}}).encode()
    assert feed_in_pieces(ResponseUsageParser(streaming=False), body, 10) == ResponseUsage(100, 9)


@pytest.mark.parametrize(
    ("streaming", "body"),
    [
        (False, b"<html>bad gateway</html>"),
        (False, b'{"usage": "lots"}'),
        (False, b'{"usage": {"prompt_tokens": "3"}}'),
        (True, b'data: {not json with "usage"}\n\n'),
        (True, b": keep-alive comment\n\n"),
    ],
    ids=["html", "usage not an object", "string token count", "broken SSE JSON", "SSE comment"],
)
def test_unparseable_bodies_give_zero_usage(streaming, body):
    assert feed_in_pieces(ResponseUsageParser(streaming=streaming), body, 4) == ResponseUsage()


def test_oversized_json_is_passed_without_buffering():
    parser = ResponseUsageParser(streaming=False)
    parser.feed(b"x" * (MAX_BUFFERED_JSON_BYTES + 1))
    tail = b'{"usage":{"prompt_tokens":1,"completion_tokens":1}}'
    parser.feed(tail)
    assert parser.finish() == ResponseUsage()
    assert parser.body_bytes == MAX_BUFFERED_JSON_BYTES + 1 + len(tail)
