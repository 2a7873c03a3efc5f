"""Sends one chat-completions request and times every SSE chunk, or the whole answer when not streamed (aiohttp)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from bench.driver.record import RequestRecord
from bench.workloads.request import RequestSpec

# Response headers model servers use to say which replica answered (simulator / llm-d-inference-sim).
SERVED_BY_HEADERS = ("x-sim-replica", "x-inference-pod")


class ChatStreamClient:
    """Posts ``RequestSpec`` bodies to ``{base_url}/v1/chat/completions``, streamed (SSE) unless the spec
    says ``stream=False``; a plain answer's tokens all arrive with its body, so its TTFT is its e2e latency.

    Never raises for a failed request: every outcome, including timeouts and connection errors,
    becomes a ``RequestRecord`` so the run's statistics see it.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        request_timeout_s: float = 120.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/v1/chat/completions"
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._clock = clock

    async def send(self, request: RequestSpec) -> RequestRecord:
        record = RequestRecord(index=request.index, priority_class=request.priority_class,
                               prefix_group=request.prefix_group, sent_at_s=self._clock())
        try:
            async with self._session.post(self._url, json=request.body(), headers=dict(request.headers),
                                          timeout=self._timeout) as response:
                record.status = response.status
                record.served_by = next((response.headers[h] for h in SERVED_BY_HEADERS
                                         if h in response.headers), "")
                if response.status != 200:
                    record.error = _error_message(await response.text())
                    record.finished_at_s = self._clock()
                    return record
                if request.stream:
                    await self._read_stream(response, record)
                else:
                    await self._read_answer(response, record)
        except TimeoutError:
            record.error = "timeout"
        except aiohttp.ClientError as exc:
            record.error = f"connection: {type(exc).__name__}: {exc}"
        if record.finished_at_s is None:
            record.finished_at_s = self._clock()
        return record

    async def _read_stream(self, response: aiohttp.ClientResponse, record: RequestRecord) -> None:
        done = False
        async for raw_line in response.content:
            line = raw_line.strip()
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                done = True
                break
            now = self._clock()
            try:
                chunk = json.loads(payload)
            except json.JSONDecodeError:
                record.error = f"malformed SSE chunk: {payload[:80]!r}"
                return
            if "error" in chunk:  # vLLM reports mid-stream failures as an error chunk
                record.error = _error_message(json.dumps(chunk))
                return
            for choice in chunk.get("choices") or ():
                content = (choice.get("delta") or {}).get("content") or choice.get("text")
                if content:
                    if record.first_token_at_s is None:
                        record.first_token_at_s = now
                    record.token_times_s.append(now)
            usage = chunk.get("usage")
            if usage:
                _record_usage(record, usage)
        if not done:
            record.error = "truncated stream (no [DONE])"
        elif record.output_tokens == 0:
            # Servers that send no usage chunk: count content chunks (one token each in vLLM).
            record.output_tokens = len(record.token_times_s)

    async def _read_answer(self, response: aiohttp.ClientResponse, record: RequestRecord) -> None:
        body = await response.read()
        now = self._clock()
        try:
            answer = json.loads(body)
        except json.JSONDecodeError:
            record.error = f"malformed JSON answer: {body[:80]!r}"
            return
        if not isinstance(answer, dict) or not answer.get("choices"):
            record.error = _error_message(body.decode(errors="replace"))
            return
        record.first_token_at_s = record.finished_at_s = now
        record.token_times_s.append(now)
        _record_usage(record, answer.get("usage") or {})


def _record_usage(record: RequestRecord, usage: dict[str, Any]) -> None:
    """An OpenAI usage block's token counts, onto the record."""
    record.output_tokens = int(usage.get("completion_tokens") or 0)
    record.prompt_tokens = int(usage.get("prompt_tokens") or 0)
    details = usage.get("prompt_tokens_details") or {}
    if details.get("cached_tokens") is not None:
        record.cached_prompt_tokens = int(details["cached_tokens"])


def _error_message(body: str) -> str:
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError:
        return body.strip()[:200] or "empty error body"
    error = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
    if isinstance(error, dict):
        return str(error.get("message") or error)[:200]
    return str(error)[:200]


async def cancel_all(tasks: set[asyncio.Task[RequestRecord]]) -> None:
    """Cancel and await tasks still running at the drain deadline."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
