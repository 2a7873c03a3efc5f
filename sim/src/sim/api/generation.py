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
from sim.api.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    SamplingRequest,
    check_priority,
    check_sampling,
)
from sim.engine import GenerationRequest, RequestRejected, SequenceFinished, TokenGenerated
from sim.engine_driver import RequestStream
from sim.runtime import InjectedFault, SimulatorRuntime
from sim.tokenizer import InvalidTokenError


@dataclass(frozen=True, slots=True)
class _Prompt:
    token_ids: tuple[int, ...]
    text: str  # what echo mode repeats (chat: the last user message)


@dataclass(frozen=True, slots=True)
class _Choice:
    """One sampled answer: its own engine request, text and stop position."""

    index: int
    prompt_index: int
    engine_request: GenerationRequest
    answer: AnswerPieces
    stop: StopMatch | None  # where a stop string ends the answer, if one does
    echo_text: str  # completions with echo=true: the prompt, sent before the answer

    def visible_text(self, num_tokens: int) -> str:
        text = self.answer.text(num_tokens)
        return text[: self.stop.visible_chars] if self.stop is not None else text

    def stop_reason(self, finished: SequenceFinished) -> str | None:
        if self.stop is not None and finished.num_output_tokens == self.stop.tokens:
            return self.stop.stop
        return None


@dataclass(frozen=True, slots=True)
class _Job:
    """One validated generation request: its choices and how to shape the answer."""

    kind: str  # "completion" or "chat"
    request_id: str
    model: str
    created: int
    choices: tuple[_Choice, ...]
    stream: bool
    include_usage: bool
    continuous_usage: bool
    chunk_head: str  # the fields every streamed chunk starts with: id, object, created, model

    def choice_of(self, engine_request_id: str) -> _Choice:
        return next(c for c in self.choices if c.engine_request.request_id == engine_request_id)


def _dumps(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


class GenerationRoutes:
    """The two generation routes.

    Streaming answers are SSE (``data: {chunk}`` per token, ``data: [DONE]`` last) with usage at the end
    when ``stream_options.include_usage`` is set; plain answers are one JSON body with usage. Several
    prompts (completions) and ``n`` > 1 become one engine request per choice, numbered as vLLM numbers
    them (``prompt_index * n + sample_index``). A client that goes away aborts its requests, freeing
    their KV blocks, as vLLM does.
    """

    def __init__(self, runtime: SimulatorRuntime) -> None:
        self._runtime = runtime

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await read_model(request, CompletionRequest)
        check_sampling(body)
        check_priority(body, self._runtime.config.scheduling_policy)
        if body.suffix:
            raise ApiError.bad_request("suffix is not supported (as in vLLM); omit it.", param="suffix")
        model = self._runtime.resolve_model(body.model)
        prompts = self._completion_prompts(body)
        job = self._job("completion", "cmpl", body, model.name, model.lora_name, prompts, echo=body.echo)
        return await self._run(request, job)

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = await read_model(request, ChatCompletionRequest)
        check_sampling(body)
        check_priority(body, self._runtime.config.scheduling_policy)
        model = self._runtime.resolve_model(body.model)
        prompt_text = self._runtime.render_chat(body.messages, body.add_generation_prompt)
        last_user = next((m.text() for m in reversed(body.messages) if m.role == "user"), prompt_text)
        # vLLM's chat default: the template already wrote the special tokens it wants.
        prompt = _Prompt(self._tokenize_prompt(prompt_text, add_special_tokens=False), last_user)
        job = self._job("chat", "chatcmpl", body, model.name, model.lora_name, [prompt], echo=False)
        return await self._run(request, job)

    # -- building a job ----------------------------------------------------------------------------

    def _completion_prompts(self, body: CompletionRequest) -> list[_Prompt]:
        """Token ids and text of each prompt: a string, token ids, or a list of either."""
        prompt = body.prompt
        singles: list[str | list[int]]
        if isinstance(prompt, str) or not prompt or isinstance(prompt[0], int):
            singles = [cast("str | list[int]", prompt)]
        else:
            singles = list(prompt)
        tokenizer = self._runtime.tokenizer
        prompts = []
        for single in singles:
            if isinstance(single, str):
                prompts.append(_Prompt(self._tokenize_prompt(single), single))
                continue
            try:
                prompts.append(_Prompt(tuple(single), tokenizer.detokenize(single)))
            except InvalidTokenError as err:
                raise ApiError.bad_request(f"prompt: {err}", param="prompt") from err
        return prompts

    def _tokenize_prompt(self, text: str, add_special_tokens: bool = True) -> tuple[int, ...]:
        """The prompt's token ids, tokenizing no more than max_model_len + 1 tokens.

        Tokenizing runs on the event loop: a multi-MiB prompt tokenized in full would stall every request
        on the replica, only to be refused by the context-window check. One token past the window already
        decides that, so tokenizing stops there and the request gets vLLM's 400 at once.
        """
        max_model_len = self._runtime.max_model_len
        token_ids = self._runtime.tokenizer.tokenize(
            text, limit=max_model_len + 1, add_special_tokens=add_special_tokens
        )
        if len(token_ids) > max_model_len:
            # The exact count is unknown (tokenizing stopped), so the message says "more than".
            raise ApiError.bad_request(
                f"This model's maximum context length is {max_model_len} tokens, and the request has more "
                f"than {max_model_len} input tokens, which leaves no room for output. Shorten the input.",
                param="prompt",
            )
        return tuple(token_ids)

    def _job(
        self,
        kind: str,
        id_prefix: str,
        body: SamplingRequest,
        model_name: str,
        lora_name: str | None,
        prompts: list[_Prompt],
        echo: bool,
    ) -> _Job:
        field = (
            "max_completion_tokens"
            if getattr(body, "max_completion_tokens", None) is not None
            else "max_tokens"
        )
        request_id = f"{id_prefix}-{uuid.uuid4().hex}"
        echo_mode = self._runtime.config.mode == "echo"
        created = int(self._runtime.wall_clock())
        object_name = "chat.completion.chunk" if kind == "chat" else "text_completion"
        stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        choices = []
        for prompt_index, prompt in enumerate(prompts):
            max_tokens = self._runtime.resolve_max_tokens(
                len(prompt.token_ids), body.requested_max_tokens(), field
            )
            for sample_index in range(body.n):
                index = prompt_index * body.n + sample_index
                answer = self._runtime.answers.start(
                    prompt.text if echo_mode else None,
                    None if body.seed is None else body.seed + sample_index,
                    greedy_key=array("I", prompt.token_ids).tobytes() if body.temperature == 0 else None,
                )
                stop = answer.first_stop(stops, max_tokens)
                engine_request = GenerationRequest(
                    request_id=f"{request_id}-{index}",
                    prompt_token_ids=prompt.token_ids,
                    max_tokens=max_tokens,
                    ignore_eos=body.ignore_eos,
                    min_tokens=body.min_tokens,
                    stop_at_tokens=stop.tokens if stop is not None else None,
                    lora_name=lora_name,
                    cache_salt=body.cache_salt,
                    priority=body.priority,
                )
                echo_text = prompt.text if echo else ""
                choices.append(_Choice(index, prompt_index, engine_request, answer, stop, echo_text))
        return _Job(
            kind=kind,
            request_id=request_id,
            model=model_name,
            created=created,
            choices=tuple(choices),
            stream=body.stream,
            include_usage=bool(body.stream_options and body.stream_options.include_usage),
            continuous_usage=bool(body.stream_options and body.stream_options.continuous_usage_stats),
            chunk_head=(
                f'{{"id":{_dumps(request_id)},"object":"{object_name}","created":{created},'
                f'"model":{_dumps(model_name)}'
            ),
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
            stream = driver.submit([choice.engine_request for choice in job.choices], wants_tokens=job.stream)
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
            # The client hung up mid-stream: nobody to answer; the aborts below free the KV blocks.
            return web.Response(status=499)
        finally:
            for request_id in stream.request_ids:
                if request_id not in stream.finished:
                    driver.abort(request_id)

    async def _collect(self, job: _Job, stream: RequestStream) -> web.Response:
        async for _ in stream.events():
            pass
        choices: list[dict[str, object]] = []
        completion_tokens = 0
        for choice in job.choices:
            finished = stream.finished[choice.engine_request.request_id]
            completion_tokens += finished.num_output_tokens
            text = choice.echo_text + choice.visible_text(finished.num_output_tokens)
            body: dict[str, object] = {"index": choice.index}
            if job.kind == "chat":
                body["message"] = {"role": "assistant", "content": text, "tool_calls": []}
            else:
                body["text"] = text
            body |= {
                "logprobs": None,
                "finish_reason": finished.finish_reason.value,
                "stop_reason": choice.stop_reason(finished),
            }
            if job.kind == "completion":
                body["prompt_logprobs"] = None
            choices.append(body)
        payload = {
            "id": job.request_id,
            "object": "chat.completion" if job.kind == "chat" else "text_completion",
            "created": job.created,
            "model": job.model,
            "choices": choices,
            "usage": self._final_usage(job, stream, completion_tokens),
        }
        return web.Response(text=_dumps(payload), content_type="application/json")

    def _final_usage(self, job: _Job, stream: RequestStream, completion_tokens: int) -> dict[str, object]:
        # As in vLLM, a prompt counts once however many samples it has; its cache hit is its first sample's.
        firsts: dict[int, _Choice] = {}
        for choice in job.choices:
            firsts.setdefault(choice.prompt_index, choice)
        prompt_tokens = sum(len(c.engine_request.prompt_token_ids) for c in firsts.values())
        cached = sum(stream.finished[c.engine_request.request_id].num_cached_tokens for c in firsts.values())
        return _usage(prompt_tokens, completion_tokens, cached)

    async def _stream(
        self, request: web.Request, job: _Job, stream: RequestStream, cut_after: int | None = None
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        opening: list[bytes] = []
        for choice in job.choices:
            if job.kind == "chat":
                opening.append(self._sse(job, choice.index, {"role": "assistant", "content": ""}, None, None))
            if choice.echo_text:
                opening.append(self._sse(job, choice.index, choice.echo_text, None, None))
        if opening:
            await response.write(b"".join(opening))
        # Characters of each answer so far, to hold back a stop string (which is never shown).
        answer_chars = {choice.engine_request.request_id: 0 for choice in job.choices}
        finished_seen: set[str] = set()
        async for first in stream.events():
            # Everything the engine already produced goes out in one write.
            chunks: list[bytes] = []
            for event in [first, *stream.drain_ready()]:
                if isinstance(event, TokenGenerated):
                    if cut_after is not None and event.num_output_tokens > cut_after:
                        await response.write(b"".join(chunks))
                        _drop_connection(request)
                        return response
                    choice = job.choice_of(event.request_id)
                    full_piece = choice.answer[event.num_output_tokens - 1]
                    piece = full_piece
                    if choice.stop is not None:
                        piece = piece[: max(0, choice.stop.visible_chars - answer_chars[event.request_id])]
                    answer_chars[event.request_id] += len(full_piece)
                    finished = stream.finished.get(event.request_id)
                    last = finished is not None and finished.num_output_tokens == event.num_output_tokens
                    reason = finished.finish_reason.value if last and finished else None
                    stop_reason = choice.stop_reason(finished) if last and finished else None
                    usage = None
                    if job.continuous_usage:
                        prompt_tokens = len(choice.engine_request.prompt_token_ids)
                        usage = _usage(prompt_tokens, event.num_output_tokens, None)
                    chunks.append(self._token_chunk(job, choice.index, piece, reason, usage, stop_reason))
                elif isinstance(event, SequenceFinished):
                    finished_seen.add(event.request_id)
                    if len(finished_seen) < len(job.choices):
                        continue
                    if job.include_usage:
                        completion_tokens = sum(f.num_output_tokens for f in stream.finished.values())
                        usage = self._final_usage(job, stream, completion_tokens)
                        chunks.append(self._usage_chunk(job, usage))
                    chunks.append(b"data: [DONE]\n\n")
            await response.write(b"".join(chunks))
        await response.write_eof()
        return response

    def _sse(
        self,
        job: _Job,
        index: int,
        content: str | dict[str, str],
        finish_reason: str | None,
        usage: dict[str, object] | None,
        stop_reason: str | None = None,
    ) -> bytes:
        if job.kind == "chat":
            delta = content if isinstance(content, dict) else {"content": content}
            choice: dict[str, object] = {
                "index": index,
                "delta": delta,
                "logprobs": None,
                "finish_reason": finish_reason,
            }
            object_name = "chat.completion.chunk"
        else:
            choice = {
                "index": index,
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
        index: int,
        text: str,
        finish_reason: str | None,
        usage: dict[str, object] | None,
        stop_reason: str | None = None,
    ) -> bytes:
        """Same bytes as ``_sse`` for one token, from a per-request template: this runs once per token."""
        if job.kind == "chat":
            opening = f',"choices":[{{"index":{index},"delta":{{"content":'
            after_text = '},"logprobs":null,"finish_reason":'
            closing = "}]"
        else:
            opening = f',"choices":[{{"index":{index},"text":'
            after_text = ',"logprobs":null,"finish_reason":'
            closing = f',"stop_reason":{_dumps(stop_reason)}}}]'
        reason = "null" if finish_reason is None else _dumps(finish_reason)
        usage_part = f',"usage":{_dumps(usage)}' if job.include_usage else ""
        return f"data: {job.chunk_head}{opening}{_dumps(text)}{after_text}{reason}{closing}{usage_part}}}\n\n".encode()

    def _usage_chunk(self, job: _Job, usage: dict[str, object]) -> bytes:
        payload: dict[str, object] = {
            "id": job.request_id,
            "object": "chat.completion.chunk" if job.kind == "chat" else "text_completion",
            "created": job.created,
            "model": job.model,
            "choices": [],
            "usage": usage,
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
