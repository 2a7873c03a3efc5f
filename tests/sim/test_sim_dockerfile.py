"""sim/Dockerfile takes the chat prompt package from the named build context its header documents."""

from __future__ import annotations

from pathlib import Path

from tests.components.dockerfile_named_contexts import dockerfile_named_contexts

SIM_DOCKERFILE = Path(__file__).resolve().parents[2] / "sim" / "Dockerfile"


def test_the_sim_image_copies_chat_prompt_from_its_named_context() -> None:
    assert dockerfile_named_contexts(SIM_DOCKERFILE) == {"chat_prompt": "chat_prompt"}
