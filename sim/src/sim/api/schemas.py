"""Request bodies the simulator accepts, as pydantic models shaped like vLLM's OpenAI protocol."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chat_prompt import message_text
from sim.api.errors import ApiError
from sim.engine import SchedulingPolicy


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False
    continuous_usage_stats: bool = False


class SamplingRequest(BaseModel):
    """Fields completions and chat share.

    Unknown fields are accepted and ignored, as vLLM does; known fields are type-checked with pydantic's
    lax coercion (``"temperature": "0"`` works, as against vLLM). vLLM's own range checks, with its
    wording, live in :func:`check_sampling`.
    """

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    n: int = 1
    seed: int | None = None
    stop: str | list[str] | None = None
    stop_token_ids: list[int] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    ignore_eos: bool = False
    min_tokens: int = 0
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repetition_penalty: float | None = None
    logprobs: bool | int | None = None
    user: str | None = None
    # vLLM's field: lower values are handled earlier; any non-zero value needs priority scheduling.
    priority: int = Field(default=0, ge=-(2**63), le=2**63 - 1)
    cache_salt: str | None = None

    def requested_max_tokens(self) -> int | None:
        return self.max_tokens


class CompletionRequest(SamplingRequest):
    prompt: str | list[str] | list[int] | list[list[int]]
    echo: bool = False
    suffix: str | None = None


class TextContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextContentPart] | None = None
    name: str | None = None

    def openai_json(self) -> dict[str, Any]:
        """The message as OpenAI's chat API spells it (what ``chat_prompt`` renders)."""
        return self.model_dump(include={"role", "content"})

    def text(self) -> str:
        return message_text(self.openai_json()["content"])


class ChatCompletionRequest(SamplingRequest):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = None
    add_generation_prompt: bool = True
    top_logprobs: int | None = None

    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


class TokenizeCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    prompt: str
    add_special_tokens: bool = True
    return_token_strs: bool = False


class TokenizeChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    add_generation_prompt: bool = True
    return_token_strs: bool = False


class DetokenizeRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    tokens: list[int]


class LoadLoraAdapterRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    lora_name: str = Field(min_length=1)
    lora_path: str = Field(min_length=1)
    base_model_name: str | None = None


class UnloadLoraAdapterRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    lora_name: str = Field(min_length=1)


def check_sampling(request: SamplingRequest) -> None:
    """vLLM's value checks (``SamplingParams._verify_args`` and the protocol validators)."""
    max_tokens = request.requested_max_tokens()
    field = (
        "max_completion_tokens"
        if isinstance(request, ChatCompletionRequest) and request.max_completion_tokens is not None
        else "max_tokens"
    )
    if max_tokens is not None and max_tokens < 1:
        raise ApiError.bad_request(f"{field} must be at least 1, got {max_tokens}.", param=field)
    if request.temperature is not None and request.temperature < 0:
        raise ApiError.bad_request(
            f"temperature must be non-negative, got {request.temperature}.", "temperature"
        )
    if request.top_p is not None and not 0 < request.top_p <= 1:
        raise ApiError.bad_request(f"top_p must be in (0, 1], got {request.top_p}.", param="top_p")
    if request.min_tokens < 0:
        raise ApiError.bad_request(
            f"min_tokens must be greater than or equal to 0, got {request.min_tokens}.", param="min_tokens"
        )
    if max_tokens is not None and request.min_tokens > max_tokens:
        raise ApiError.bad_request(
            f"min_tokens must be less than or equal to max_tokens={max_tokens}, got {request.min_tokens}.",
            param="min_tokens",
        )
    if request.stream_options is not None and not request.stream:
        raise ApiError.bad_request("Stream options can only be defined when `stream=True`.", "stream_options")
    if request.n < 1:
        raise ApiError.bad_request(f"n must be at least 1, got {request.n}.", param="n")
    if request.logprobs not in (None, False) or getattr(request, "top_logprobs", None):
        raise ApiError.bad_request(
            "The simulator does not produce logprobs; omit logprobs.", param="logprobs"
        )


def check_priority(request: SamplingRequest, scheduling_policy: SchedulingPolicy) -> None:
    """vLLM's engine-input check: only a ``--scheduling-policy priority`` server takes a non-zero priority.

    vLLM raises ``ValueError`` with this text when the request reaches its engine, and its OpenAI
    server answers 400 with no ``param``. Rendering endpoints never reach the engine and do not check.
    """
    if request.priority != 0 and scheduling_policy != "priority":
        raise ApiError.bad_request(f"Got priority {request.priority} but Priority scheduling is not enabled.")
