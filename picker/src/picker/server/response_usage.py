"""Token usage from a model server's response body, fed chunk by chunk: SSE (``data:`` lines, usage in
the chunk sent with ``stream_options.include_usage``) or one JSON document with a ``usage`` object."""

from __future__ import annotations

import json

from picker.framework.types import ResponseUsage

_USAGE_MARKER = b'"usage"'
_DATA_PREFIX = b"data:"
_DONE = b"[DONE]"
# A non-streaming body larger than this is passed through without usage parsing (bounded memory).
MAX_BUFFERED_JSON_BYTES = 8 * 1024 * 1024
_NO_USAGE = ResponseUsage()  # frozen: one shared "nothing found" instead of one per response


def _usage_from_object(document: object) -> ResponseUsage | None:
    if not isinstance(document, dict):
        return None
    usage = document.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt_tokens = usage.get("prompt_tokens", 0)
    completion_tokens = usage.get("completion_tokens", 0)
    if not isinstance(prompt_tokens, int) or not isinstance(completion_tokens, int):
        return None
    return ResponseUsage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


class ResponseUsageParser:
    """Accumulates what it needs of one response body and reports the usage it found.

    Cheap on the hot path: SSE lines are JSON-decoded only when they mention ``"usage"``, and a JSON
    body is decoded once, at the end, only if it mentions ``"usage"``. Bodies that do not parse are
    ignored (usage stays zero); the response itself always passes through unchanged.
    """

    def __init__(self, streaming: bool) -> None:
        self._streaming = streaming
        self._pending = bytearray()  # SSE: the incomplete last line; JSON: the whole body so far
        self._overflowed = False
        self.usage = _NO_USAGE
        self.done_seen = False  # SSE "data: [DONE]" arrived
        self.body_bytes = 0

    def feed(self, chunk: bytes) -> None:
        self.body_bytes += len(chunk)
        if self._streaming:
            if (
                not self._pending
                and chunk.endswith(b"\n")
                and _USAGE_MARKER not in chunk
                and _DONE not in chunk
            ):
                # The common SSE chunk: whole lines, no usage, not the end: nothing to decode or keep. Two
                # substring scans instead of splitting and inspecting every line.
                return
            self._feed_sse(chunk)
        elif not self._overflowed:
            self._pending += chunk
            if len(self._pending) > MAX_BUFFERED_JSON_BYTES:
                self._overflowed = True
                self._pending.clear()

    def finish(self) -> ResponseUsage:
        """Call once at end of stream; returns the usage found (zeros when none)."""
        if self._streaming:
            if self._pending:
                self._parse_sse_line(bytes(self._pending))
                self._pending.clear()
        elif self._pending and _USAGE_MARKER in self._pending:
            try:
                found = _usage_from_object(json.loads(self._pending))
            except (json.JSONDecodeError, UnicodeDecodeError):
                found = None
            if found is not None:
                self.usage = found
            self._pending.clear()
        return self.usage

    def _feed_sse(self, chunk: bytes) -> None:
        data = bytes(self._pending) + chunk if self._pending else chunk
        lines = data.split(b"\n")
        tail = lines.pop()  # after the last newline: incomplete, keep for the next chunk
        self._pending = bytearray(tail)
        for line in lines:
            self._parse_sse_line(line)

    def _parse_sse_line(self, line: bytes) -> None:
        line = line.strip()
        if not line.startswith(_DATA_PREFIX):
            return
        payload = line[len(_DATA_PREFIX) :].strip()
        if payload == _DONE:
            self.done_seen = True
            return
        if _USAGE_MARKER not in payload:
            return
        try:
            found = _usage_from_object(json.loads(payload))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return
        if found is not None:
            self.usage = found
