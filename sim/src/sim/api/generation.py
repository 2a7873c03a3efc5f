"""``/v1/completions`` and ``/v1/chat/completions``: validate, queue on the engine, answer as vLLM does."""

from __future__ import annotations

import asyncio
import json
import uuid
from array import array
from dataclasses import dataclass
from typing import cast

from aiohttp import web

from sim.answer_text import AnswerPieces, StopMatch
from sim.api.errors import ApiError
from sim.api.json_body import read_model
from sim.api.schemas import ChatCompletionRequest, CompletionRequest, SamplingRequest, check_sampling
from sim.chat_template import render_chat_prompt
from sim.engine import GenerationRequest, RequestRejected, SequenceFinished, TokenGenerated
from sim.engine_driver import RequestStream
from sim.runtime import InjectedFault, SimulatorRuntime
from sim.tokenizer import InvalidTokenError


@dataclass(frozen=True, slots=True)
class _Job:
    """One validated generation: what to run and how to shape the answer."""

    kind: str  # "completion" or "chat"
    request_id: str
    model: str
    created: int
    engine_request: GenerationRequest
    answer: AnswerPieces
    stream: bool
    include_usage: bool
    continuous_usage: bool
    chunk_head: str  # the fields every streamed chunk starts with: id, object, created, model
    stop: StopMatch | None  # where a stop string ends the answer, if one does
    echo_text: str  # completions with echo=true: the prompt, sent before the answer

    def visible_text(self, num_tokens: int) -> str:
        text = self.answer.text(num_tokens)
        return text[: self.stop.visible_chars] if self.stop is not None else text

    def stop_reason(self, finished: SequenceFinished) -> str | None:
        stopped_by_string = self.stop is not None and finished.num_output_tokens == self.stop.tokens
        return self.stop.stop if stopped_by_string and self.stop is not None else None


def _dumps(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


class GenerationRoutes:
    """The two generation routes.

    Streaming answers are SSE (``data: {chunk}`` per token, ``data: [DONE]`` last) with usage at the end
    when ``stream_options.include_usage`` is set; plain answers are one JSON body with usage. A client that
    goes away aborts its request, freeing its KV blocks, as vLLM does.
    """

    def __init__(self, runtime: SimulatorRuntime) -> None:
        self._runtime = runtime

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await read_model(request, CompletionRequest)
        check_sampling(body)
        model = self._runtime.resolve_model(body.model)
        prompt_ids, prompt_text = self._completion_prompt(body)
        if body.suffix:
            raise ApiError.bad_request("suffix is not supported (as in vLLM); omit it.", param="suffix")
        job = self._job(
            "completion",
            "cmpl",
            body,
            model.name,
            model.lora_name,
            prompt_ids,
            prompt_text,
            echo_text=prompt_text if body.echo else "",
        )
        return await self._run(request, job)

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = await read_model(request, ChatCompletionRequest)
        check_sampling(body)
        model = self._runtime.resolve_model(body.model)
        prompt_text = render_chat_prompt(body.messages, body.add_generation_prompt)
        prompt_ids = tuple(self._runtime.tokenizer.tokenize(prompt_text))
        last_user = next((m.text() for m in reversed(body.messages) if m.role == "user"), prompt_text)
        job = self._job("chat", "chatcmpl", body, model.name, model.lora_name, prompt_ids, last_user)
        return await self._run(request, job)

    # -- building a job ----------------------------------------------------------------------------

    def _completion_prompt(self, body: CompletionRequest) -> tuple[tuple[int, ...], str]:
        """The prompt's token ids and text: from a string, token ids, or a one-element list of either."""
        prompt = body.prompt
        single: str | list[int]
        if isinstance(prompt, str) or not prompt or isinstance(prompt[0], int):
            single = cast("str | list[int]", prompt)
        elif len(prompt) == 1:
            single = prompt[0]
        else:
            raise ApiError.bad_request(
                f"prompt holds {len(prompt)} prompts; the simulator serves one prompt per request "
                "(send them as separate requests).",
                param="prompt",
            )
        tokenizer = self._runtime.tokenizer
        if isinstance(single, str):
            return tuple(tokenizer.tokenize(single)), single
        try:
            return tuple(single), tokenizer.detokenize(single)
        except InvalidTokenError as err:
            raise ApiError.bad_request(f"prompt: {err}", param="prompt") from err

    def _job(
        self,
        kind: str,
        id_prefix: str,
        body: SamplingRequest,
        model_name: str,
        lora_name: str | None,
        prompt_ids: tuple[int, ...],
        echo_source: str,
        echo_text: str = "",
    ) -> _Job:
        field = (
            "max_completion_tokens"
            if getattr(body, "max_completion_tokens", None) is not None
            else "max_tokens"
        )
        max_tokens = self._runtime.resolve_max_tokens(len(prompt_ids), body.requested_max_tokens(), field)
        request_id = f"{id_prefix}-{uuid.uuid4().hex}"
        echo_mode = self._runtime.config.mode == "echo"
        created = int(self._runtime.wall_clock())
        object_name = "chat.completion.chunk" if kind == "chat" else "text_completion"
        answer = self._runtime.answers.start(
            echo_source if echo_mode else None,
            body.seed,
            greedy_key=array("I", prompt_ids).tobytes() if body.temperature == 0 else None,
        )
        stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        stop = answer.first_stop(stops, max_tokens)
        return _Job(
            kind=kind,
            request_id=request_id,
            model=model_name,
            created=created,
            chunk_head=(
                f'{{"id":{_dumps(request_id)},"object":"{object_name}","created":{created},'
                f'"model":{_dumps(model_name)}'
            ),
            engine_request=GenerationRequest(
                request_id=request_id,
                prompt_token_ids=prompt_ids,
                max_tokens=max_tokens,
                ignore_eos=body.ignore_eos,
                min_tokens=body.min_tokens,
                stop_at_tokens=stop.tokens if stop is not None else None,
                lora_name=lora_name,
                cache_salt=body.cache_salt,
            ),
            answer=answer,
            stream=body.stream,
            include_usage=bool(body.stream_options and body.stream_options.include_usage),
            continuous_usage=bool(body.stream_options and body.stream_options.continuous_usage_stats),
            stop=stop,
            echo_text=echo_text,
        )

    # -- running it --------------------------------------------------------------------------------

    async def _run(self, request: web.Request, job: _Job) -> web.StreamResponse:
        fault = self._runtime.draw_fault()
        if fault is InjectedFault.ERROR:
            raise self._runtime.injected_error()
        if fault is InjectedFault.HANG:
            await asyncio.Event().wait()  # until the client gives up (cancelling us) or shutdown
        if self._runtime.config.faults.extra_latency_s > 0:
            await asyncio.sleep(self._runtime.config.faults.extra_latency_s)
        driver = self._runtime.driver
        if driver is None:
            raise ApiError(503, "The engine is not running yet.")
        try:
            stream = driver.submit(job.engine_request, wants_tokens=job.stream)
        except RequestRejected as err:
            raise ApiError.bad_request(str(err)) from err
        cut_after = self._runtime.config.faults.cut_after_tokens if fault is InjectedFault.CUT else None
        try:
            if job.stream:
                return await self._stream(request, job, stream, cut_after)
            response = await self._collect(job, stream)
            if cut_after is not None:
                _drop_connection(request)
            return response
        except ConnectionResetError:
            # The client hung up mid-stream: nobody to answer; the abort below frees its KV blocks.
            return web.Response(status=499)
        finally:
            if stream.finished is None:
                driver.abort(job.request_id)

    async def _collect(self, job: _Job, stream: RequestStream) -> web.Response:
        async for _ in stream.events():
            pass
        finished = stream.finished
        assert finished is not None
        text = job.echo_text + job.visible_text(finished.num_output_tokens)
        stop_reason = job.stop_reason(finished)
        if job.kind == "chat":
            choice: dict[str, object] = {
                "index": 0,
                "message": {"role": "assistant", "content": text, "tool_calls": []},
                "logprobs": None,
                "finish_reason": finished.finish_reason.value,
                "stop_reason": stop_reason,
            }
            object_name = "chat.completion"
        else:
            choice = {
                "index": 0,
                "text": text,
                "logprobs": None,
                "finish_reason": finished.finish_reason.value,
                "stop_reason": stop_reason,
                "prompt_logprobs": None,
            }
            object_name = "text_completion"
        payload = {
            "id": job.request_id,
            "object": object_name,
            "created": job.created,
            "model": job.model,
            "choices": [choice],
            "usage": _usage(
                finished.num_prompt_tokens, finished.num_output_tokens, finished.num_cached_tokens
            ),
        }
        return web.Response(text=_dumps(payload), content_type="application/json")

    async def _stream(
        self, request: web.Request, job: _Job, stream: RequestStream, cut_after: int | None = None
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        prompt_tokens = len(job.engine_request.prompt_token_ids)
        if job.kind == "chat":
            await response.write(self._sse(job, {"role": "assistant", "content": ""}, None, None))
        if job.echo_text:
            await response.write(self._sse(job, job.echo_text, None, None))
        # Characters of the answer so far, to hold back a stop string (which is never shown).
        answer_chars = 0
        visible_limit = job.stop.visible_chars if job.stop is not None else None
        async for first in stream.events():
            # Everything the engine already produced goes out in one write.
            chunks: list[bytes] = []
            for event in [first, *stream.drain_ready()]:
                if isinstance(event, TokenGenerated):
                    if cut_after is not None and event.num_output_tokens > cut_after:
                        await response.write(b"".join(chunks))
                        _drop_connection(request)
                        return response
                    piece = job.answer[event.num_output_tokens - 1]
                    if visible_limit is not None:
                        piece = piece[: max(0, visible_limit - answer_chars)]
                    answer_chars += len(job.answer[event.num_output_tokens - 1])
                    last = (
                        stream.finished is not None
                        and stream.finished.num_output_tokens == event.num_output_tokens
                    )
                    reason = stream.finished.finish_reason.value if last and stream.finished else None
                    stop_reason = job.stop_reason(stream.finished) if last and stream.finished else None
                    usage = (
                        _usage(prompt_tokens, event.num_output_tokens, None) if job.continuous_usage else None
                    )
                    chunks.append(self._token_chunk(job, piece, reason, usage, stop_reason))
                elif isinstance(event, SequenceFinished):
                    if event.num_output_tokens == 0:
                        chunks.append(self._sse(job, "", event.finish_reason.value, None))
                    if job.include_usage:
                        chunks.append(self._usage_chunk(job, event))
                    chunks.append(b"data: [DONE]\n\n")
            await response.write(b"".join(chunks))
        await response.write_eof()
        return response

    def _sse(
        self,
        job: _Job,
        content: str | dict[str, str],
        finish_reason: str | None,
        usage: dict[str, object] | None,
        stop_reason: str | None = None,
    ) -> bytes:
        if job.kind == "chat":
            delta = content if isinstance(content, dict) else {"content": content}
            choice: dict[str, object] = {
                "index": 0,
                "delta": delta,
                "logprobs": None,
                "finish_reason": finish_reason,
            }
            object_name = "chat.completion.chunk"
        else:
            choice = {
                "index": 0,
                "text": content,
                "logprobs": None,
                "finish_reason": finish_reason,
                "stop_reason": stop_reason,
            }
            object_name = "text_completion"
        payload: dict[str, object] = {
            "id": job.request_id,
            "object": object_name,
            "created": job.created,
            "model": job.model,
            "choices": [choice],
        }
        if job.include_usage:
            payload["usage"] = usage
        return f"data: {_dumps(payload)}\n\n".encode()

    def _token_chunk(
        self,
        job: _Job,
        text: str,
        finish_reason: str | None,
        usage: dict[str, object] | None,
        stop_reason: str | None = None,
    ) -> bytes:
        """Same bytes as ``_sse`` for one token, from a per-request template: this runs once per token."""
        if job.kind == "chat":
            after_text = ',"logprobs":null,"finish_reason":'
            closing = "}]"
            opening = ',"choices":[{"index":0,"delta":{"content":'
            after_text = "}" + after_text
        else:
            opening = ',"choices":[{"index":0,"text":'
            after_text = ',"logprobs":null,"finish_reason":'
            closing = f',"stop_reason":{_dumps(stop_reason)}}}]'
        reason = "null" if finish_reason is None else _dumps(finish_reason)
        usage_part = f',"usage":{_dumps(usage)}' if job.include_usage else ""
        return f"data: {job.chunk_head}{opening}{_dumps(text)}{after_text}{reason}{closing}{usage_part}}}\n\n".encode()

    def _usage_chunk(self, job: _Job, finished: SequenceFinished) -> bytes:
        payload: dict[str, object] = {
            "id": job.request_id,
            "object": "chat.completion.chunk" if job.kind == "chat" else "text_completion",
            "created": job.created,
            "model": job.model,
            "choices": [],
            "usage": _usage(
                finished.num_prompt_tokens, finished.num_output_tokens, finished.num_cached_tokens
            ),
        }
        return f"data: {_dumps(payload)}\n\n".encode()


def _drop_connection(request: web.Request) -> None:
    """Fault injection: close the socket without finishing the response, as a crashing server would."""
    if request.transport is not None:
        request.transport.abort()


def _usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int | None) -> dict[str, object]:
    usage: dict[str, object] = {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
    }
    if cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return usage
