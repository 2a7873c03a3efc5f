"""Shared-prefix chat: G groups, each a long shared context, with multi-turn conversations that grow."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from bench.workloads.base import WorkloadSpec
from bench.workloads.request import ChatMessage, RequestSpec
from bench.workloads.text import TextGenerator


class SharedPrefixChat(WorkloadSpec):
    """``groups`` system contexts of ``context_words`` words (think: one customer's documents each).

    Every conversation belongs to one group and has ``turns`` turns; turn k's prompt is the context,
    then all earlier questions and (pre-written) answers, then a new question, so the shareable
    prefix grows within a conversation as it does in real chat. Conversations interleave at random
    but each conversation's turns stay in order.
    """

    kind: Literal["shared-prefix-chat"] = "shared-prefix-chat"
    groups: int = Field(default=8, ge=1, le=10_000)
    context_words: int = Field(default=1200, ge=1, description="Shared context length per group.")
    question_words: int = Field(default=40, ge=1)
    answer_words: int = Field(default=40, ge=1, description="Length of the scripted earlier answers.")
    turns: int = Field(default=3, ge=1, le=64)

    def generate(self, seed: int) -> list[RequestSpec]:
        rng = self.rng(seed)
        text = TextGenerator(rng)
        contexts = [text.words(self.context_words) for _ in range(self.groups)]
        conversations = math.ceil(self.requests / self.turns)
        # Each conversation: (group, list of per-turn message tuples).
        scripted: list[tuple[int, list[tuple[ChatMessage, ...]]]] = []
        for conversation in range(conversations):
            group = conversation % self.groups if conversation < self.groups else rng.randrange(self.groups)
            history: list[ChatMessage] = [ChatMessage("system", contexts[group])]
            turns: list[tuple[ChatMessage, ...]] = []
            for _ in range(self.turns):
                history.append(ChatMessage("user", text.words(self.question_words)))
                turns.append(tuple(history))
                history.append(ChatMessage("assistant", text.words(self.answer_words)))
            scripted.append((group, turns))

        next_turn = [0] * conversations
        open_conversations = list(range(conversations))
        out: list[RequestSpec] = []
        while open_conversations and len(out) < self.requests:
            conversation = rng.choice(open_conversations)
            turn = next_turn[conversation]
            group, turns = scripted[conversation]
            out.append(RequestSpec(
                index=len(out), model=self.model, messages=turns[turn], max_tokens=self.max_tokens,
                prefix_group=f"group-{group}", conversation=f"conv-{conversation}", turn=turn,
            ))
            next_turn[conversation] += 1
            if next_turn[conversation] == self.turns:
                open_conversations.remove(conversation)
        return out
