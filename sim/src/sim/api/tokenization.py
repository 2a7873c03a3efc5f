"""``/tokenize``, ``/detokenize`` and the render endpoints: a generation's prompt processing, without generating."""

from __future__ import annotations

import uuid

from aiohttp import web
from pydantic import BaseModel

from sim.api.errors import ApiError
from sim.api.json_body import read_model
from sim.api.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    DetokenizeRequest,
    SamplingRequest,
    TokenizeChatRequest,
    TokenizeCompletionRequest,
    check_sampling,
)
from sim.runtime import SimulatorRuntime
from sim.tokenizer import InvalidTokenError


class _TokenizeAny(BaseModel):
    """Just enough to tell the two tokenize shapes apart."""

    messages: object = None


class TokenizationRoutes:
    """Tokenizer routes. Render answers with vLLM's token-in ``GenerateRequest`` shape (one for chat,
    a list for completions), which routers such as vllm-router and llm-d use to see the exact prompt tokens.
    """

    def __init__(self, runtime: SimulatorRuntime) -> None:
        self._runtime = runtime

    async def tokenize(self, request: web.Request) -> web.Response:
        shape = await read_model(request, _TokenizeAny)
        tokenizer = self._runtime.tokenizer
        if shape.messages is not None:
            chat = await read_model(request, TokenizeChatRequest)
            self._runtime.resolve_model(chat.model)
            text = self._runtime.render_chat(chat.messages, chat.add_generation_prompt)
            return_strs = chat.return_token_strs
            add_special_tokens = False
        else:
            plain = await read_model(request, TokenizeCompletionRequest)
            self._runtime.resolve_model(plain.model)
            text = plain.prompt
            return_strs = plain.return_token_strs
            add_special_tokens = plain.add_special_tokens
        tokens = tokenizer.tokenize(text, add_special_tokens=add_special_tokens)
        return web.json_response(
            {
                "count": len(tokens),
                "max_model_len": self._runtime.max_model_len,
                "tokens": tokens,
                "token_strs": tokenizer.token_strings(tokens) if return_strs else None,
            }
        )

    async def detokenize(self, request: web.Request) -> web.Response:
        body = await read_model(request, DetokenizeRequest)
        self._runtime.resolve_model(body.model)
        try:
            text = self._runtime.tokenizer.detokenize(body.tokens)
        except InvalidTokenError as err:
            raise ApiError.bad_request(f"tokens: {err}", param="tokens") from err
        return web.json_response({"prompt": text})

    async def render_completion(self, request: web.Request) -> web.Response:
        body = await read_model(request, CompletionRequest)
        check_sampling(body)
        model = self._runtime.resolve_model(body.model)
        prompts = (
            body.prompt
            if isinstance(body.prompt, list) and body.prompt and isinstance(body.prompt[0], (str, list))
            else [body.prompt]
        )
        rendered = []
        for prompt in prompts:
            if isinstance(prompt, str):
                token_ids = self._runtime.tokenizer.tokenize(prompt)
            else:
                token_ids = list(prompt)  # type: ignore[arg-type]
                try:
                    self._runtime.tokenizer.token_bytes(token_ids)
                except InvalidTokenError as err:
                    raise ApiError.bad_request(f"prompt: {err}", param="prompt") from err
            rendered.append(self._generate_request("cmpl", model.name, token_ids, body))
        return web.json_response(rendered)

    async def render_chat(self, request: web.Request) -> web.Response:
        body = await read_model(request, ChatCompletionRequest)
        check_sampling(body)
        model = self._runtime.resolve_model(body.model)
        text = self._runtime.render_chat(body.messages, body.add_generation_prompt)
        token_ids = self._runtime.tokenizer.tokenize(text, add_special_tokens=False)
        return web.json_response(self._generate_request("chatcmpl", model.name, token_ids, body))

    def _generate_request(
        self, id_prefix: str, model: str, token_ids: list[int], body: SamplingRequest
    ) -> dict[str, object]:
        field = (
            "max_completion_tokens"
            if getattr(body, "max_completion_tokens", None) is not None
            else "max_tokens"
        )
        max_tokens = self._runtime.resolve_max_tokens(len(token_ids), body.requested_max_tokens(), field)
        stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        return {
            "request_id": f"{id_prefix}-{uuid.uuid4().hex}",
            "token_ids": token_ids,
            "features": None,
            "sampling_params": {
                "n": body.n,
                "presence_penalty": body.presence_penalty or 0.0,
                "frequency_penalty": body.frequency_penalty or 0.0,
                "repetition_penalty": body.repetition_penalty or 1.0,
                "temperature": 1.0 if body.temperature is None else body.temperature,
                "top_p": 1.0 if body.top_p is None else body.top_p,
                "top_k": 0 if body.top_k is None else body.top_k,
                "min_p": body.min_p or 0.0,
                "seed": body.seed,
                "stop": stop,
                "stop_token_ids": list(body.stop_token_ids or []),
                "ignore_eos": body.ignore_eos,
                "max_tokens": max_tokens,
                "min_tokens": body.min_tokens,
                "logprobs": None,
                "skip_special_tokens": True,
            },
            "model": model,
            "stream": body.stream,
            "stream_options": body.stream_options.model_dump() if body.stream_options else None,
            "cache_salt": body.cache_salt,
            "priority": body.priority,
            "kv_transfer_params": None,
        }
