"""Seeded workloads; each kind in its own module, selected by its ``kind`` field."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from bench.workloads.dominant_prefix import DominantPrefix
from bench.workloads.multi_lora import MultiLora
from bench.workloads.no_sharing import NoSharing
from bench.workloads.priority_mix import OBJECTIVE_HEADER, PriorityMix
from bench.workloads.request import ChatMessage, RequestSpec
from bench.workloads.shared_prefix_chat import SharedPrefixChat
from bench.workloads.shared_prefix_questions import SharedPrefixQuestions

AnyWorkload = Annotated[
    SharedPrefixChat | NoSharing | DominantPrefix | MultiLora | PriorityMix | SharedPrefixQuestions,
    Field(discriminator="kind")
]
WORKLOAD_ADAPTER: TypeAdapter[AnyWorkload] = TypeAdapter(AnyWorkload)

__all__ = [
    "OBJECTIVE_HEADER",
    "WORKLOAD_ADAPTER",
    "AnyWorkload",
    "ChatMessage",
    "DominantPrefix",
    "MultiLora",
    "NoSharing",
    "PriorityMix",
    "RequestSpec",
    "SharedPrefixChat",
    "SharedPrefixQuestions",
]
