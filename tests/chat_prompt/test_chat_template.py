"""ChatTemplate: the built-in Llama 3 format, Jinja templates rendered as transformers' apply_chat_template,
and vLLM's rules for where the template comes from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chat_prompt import ChatTemplate, ChatTemplateError

CONVERSATION = [
    {"role": "system", "content": "  Be brief.  "},
    {"role": "user", "content": [{"type": "text", "text": "pizza"}, {"type": "text", "text": "?"}]},
]


def test_without_a_template_it_is_the_llama3_format() -> None:
    assert ChatTemplate().render(CONVERSATION) == (
        "<|begin_of_text|>"
        "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\npizza?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert ChatTemplate().render(CONVERSATION, add_generation_prompt=False).endswith("pizza?<|eot_id|>")


def test_a_jinja_template_sees_text_content_special_tokens_and_trims_blocks() -> None:
    source = (
        "{{ bos_token }}\n"
        "{% for message in messages %}\n"
        "    {{ message['role'] }}={{ message['content'] | tojson }}{{ eos_token }}\n"
        "{% endfor %}\n"
        "{% if add_generation_prompt %}assistant={% endif %}"
    )
    template = ChatTemplate(source, bos_token="<s>", eos_token="</s>")
    # trim_blocks drops the newline after a block tag, lstrip_blocks the indentation before one.
    assert template.render(CONVERSATION) == '<s>\n    system="  Be brief.  "</s>\n    user="pizza?"</s>\nassistant='
    assert not template.render(CONVERSATION, add_generation_prompt=False).endswith("assistant=")


def test_raise_exception_and_a_broken_template_are_chat_template_errors() -> None:
    template = ChatTemplate("{% if messages|length > 1 %}{{ raise_exception('one message only') }}{% endif %}")
    with pytest.raises(ChatTemplateError, match="one message only"):
        template.render(CONVERSATION)
    with pytest.raises(ChatTemplateError, match="does not compile"):
        ChatTemplate("{% for message in messages %}")


def test_the_template_runs_sandboxed() -> None:
    with pytest.raises(ChatTemplateError, match="chat template failed"):
        ChatTemplate("{{ messages.__class__.__mro__ }}").render(CONVERSATION)


def test_content_of_neither_openai_shape_is_a_chat_template_error() -> None:
    with pytest.raises(ChatTemplateError, match="string or a list of parts, got int"):
        ChatTemplate().render([{"role": "user", "content": 7}])


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    config = {
        "chat_template": "{{ bos_token }}model:{{ messages[0]['content'] }}",
        "bos_token": {"content": "<s>", "lstrip": False},
        "eos_token": "</s>",
    }
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return tmp_path


def test_load_takes_the_tokenizers_template_and_special_tokens(model_dir: Path) -> None:
    template = ChatTemplate.load(model_dir)
    assert template.render(CONVERSATION) == "<s>model:  Be brief.  "
    assert (template.bos_token, template.eos_token) == ("<s>", "</s>")


def test_a_chat_template_file_or_text_wins_over_the_tokenizers(model_dir: Path, tmp_path: Path) -> None:
    template_file = tmp_path / "template.jinja"
    template_file.write_text("{{ bos_token }}file:{{ messages[1]['content'] }}", encoding="utf-8")
    assert ChatTemplate.load(model_dir, str(template_file)).render(CONVERSATION) == "<s>file:pizza?"
    assert ChatTemplate.load(model_dir, "text:{{ messages | length }}").render(CONVERSATION) == "text:2"


def test_a_missing_template_file_is_an_error_not_template_text(model_dir: Path) -> None:
    with pytest.raises(ChatTemplateError, match=r"'templates/chatml\.jinja' looks like a file path"):
        ChatTemplate.load(model_dir, "templates/chatml.jinja")


def test_without_a_tokenizer_directory_or_config_it_is_llama3(tmp_path: Path) -> None:
    expected = ChatTemplate().render(CONVERSATION)
    assert ChatTemplate.load(None).render(CONVERSATION) == expected
    assert ChatTemplate.load(tmp_path).render(CONVERSATION) == expected
