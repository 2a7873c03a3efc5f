"""TokenizerConfig: the chat template and special tokens of a model's tokenizer_config.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chat_prompt import ChatTemplateError, TokenizerConfig


def write(directory: Path, config: object) -> Path:
    (directory / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return directory


def test_special_tokens_as_strings_or_content_objects(tmp_path: Path) -> None:
    config = TokenizerConfig.from_directory(
        write(tmp_path, {"chat_template": "t", "bos_token": "<s>", "eos_token": {"content": "</s>"}})
    )
    assert config == TokenizerConfig("t", "<s>", "</s>")


def test_no_directory_or_no_file_is_empty(tmp_path: Path) -> None:
    assert TokenizerConfig.from_directory(None) == TokenizerConfig()
    assert TokenizerConfig.from_directory(tmp_path) == TokenizerConfig()


def test_a_list_of_named_templates_gives_the_default(tmp_path: Path) -> None:
    templates = [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "plain"}]
    assert TokenizerConfig.from_directory(write(tmp_path, {"chat_template": templates})).chat_template == "plain"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"chat_template": [{"name": "tool_use", "template": "t"}]}, r"none named 'default'"),
        ({"chat_template": 3}, "must be a string or a list of named templates, got int"),
        ([1, 2], "must hold a JSON object, got list"),
    ],
)
def test_unusable_configs_name_the_file_and_the_problem(tmp_path: Path, config: object, message: str) -> None:
    with pytest.raises(ChatTemplateError, match=message):
        TokenizerConfig.from_directory(write(tmp_path, config))


def test_a_file_that_is_not_json_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "tokenizer_config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ChatTemplateError, match=r"tokenizer_config\.json is not JSON"):
        TokenizerConfig.from_directory(tmp_path)
