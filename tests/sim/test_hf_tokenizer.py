"""``--tokenizer`` / ``--chat-template``: a real tokenizer.json and Jinja chat template, as vLLM loads them."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from sim.config import ConfigError, SimConfig
from sim.hf_tokenizer import HuggingFaceTokenizer
from sim.tokenizer import InvalidTokenError

from tests.picker.tokenization.tiny_tokenizer import BOS, build_tiny_tokenizer


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_tokenizer(tmp_path_factory.mktemp("tiny-tokenizer"))


def test_special_tokens_limit_and_round_trip(tokenizer_dir: Path) -> None:
    tokenizer = HuggingFaceTokenizer.from_directory(tokenizer_dir)
    text = "The quick brown fox jumps over the lazy dog"
    with_bos = tokenizer.tokenize(text)
    without = tokenizer.tokenize(text, add_special_tokens=False)
    assert with_bos[1:] == without and tokenizer.token_strings(with_bos[:1]) == [BOS]
    assert tokenizer.detokenize(without) == text
    assert tokenizer.tokenize(text * 1000, limit=5) == tokenizer.tokenize(text * 1000)[:6]
    with pytest.raises(InvalidTokenError):
        tokenizer.detokenize([10**6])


async def test_chat_uses_the_tokenizers_template(
    start_sim, http: aiohttp.ClientSession, tokenizer_dir: Path
) -> None:
    sim = await start_sim(tokenizer=str(tokenizer_dir))
    messages = [{"role": "user", "content": "  pizza?  "}]
    async with http.post(
        f"{sim.url}/tokenize", json={"messages": messages, "return_token_strs": True}
    ) as response:
        tokens = (await response.json())["token_strs"]
    text = "".join(tokens).replace("Ġ", " ").replace("Ċ", "\n")
    assert text == f"{BOS}<|start_header_id|>user<|end_header_id|>\n\npizza?<|eot_id|>" + (
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert tokens.count(BOS) == 1  # the template wrote it; chat adds no second one


async def test_chat_template_flag_overrides_and_template_errors_are_400(
    start_sim, http: aiohttp.ClientSession, tokenizer_dir: Path
) -> None:
    template = "{% if messages|length > 1 %}{{ raise_exception('one message only') }}{% endif %}{{ messages[0]['content'] }}"
    sim = await start_sim(tokenizer=str(tokenizer_dir), chat_template=template)
    one = [{"role": "user", "content": "hello"}]
    async with http.post(f"{sim.url}/tokenize", json={"messages": one}) as response:
        assert (await response.json())["count"] == len(
            HuggingFaceTokenizer.from_directory(tokenizer_dir).tokenize("hello", add_special_tokens=False)
        )
    body = {"model": "meta-llama/Llama-3.1-8B-Instruct", "messages": one * 2}
    async with http.post(f"{sim.url}/v1/chat/completions", json=body) as response:
        assert response.status == 400
        assert "one message only" in (await response.json())["error"]["message"]


def test_a_directory_without_tokenizer_json_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tokenizer\.json does not exist"):
        SimConfig.build(tokenizer=str(tmp_path))


def test_a_chat_template_path_that_does_not_exist_is_a_config_error(tokenizer_dir: Path) -> None:
    config = SimConfig.build(tokenizer=str(tokenizer_dir), chat_template="templates/missing.jinja")
    with pytest.raises(ConfigError, match=r"chat_template: .*looks like a file path"):
        config.load_chat_template()
