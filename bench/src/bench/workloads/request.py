"""The unit a workload produces and the load driver sends: one chat-completions request, fully decided."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One request, decided ahead of time so that every target sees byte-identical traffic.

    ``prefix_group`` and ``conversation`` are bookkeeping for analysis (the bound, per-group stats);
    they are never sent. ``priority_class`` names the row in per-priority results and, when the
    workload sets it, travels as the ``x-gateway-inference-objective`` header.
    """

    index: int
    model: str
    messages: tuple[ChatMessage, ...]
    max_tokens: int
    priority_class: str = "default"
    headers: Mapping[str, str] = field(default_factory=dict)
    prefix_group: str = ""
    conversation: str = ""
    turn: int = 0
    # False: one JSON answer (the client's first token arrives with the whole body), no SSE.
    stream: bool = True

    def body(self) -> dict[str, Any]:
        """The OpenAI chat-completions body; ``ignore_eos`` pins the output length so runs compare."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "max_tokens": self.max_tokens,
            "ignore_eos": True,
            "stream": self.stream,
        }
        if self.stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def prompt_text(self) -> str:
        """Plain concatenation of the message contents, for size estimates and the cache bound."""
        return "\n".join(m.content for m in self.messages)
