"""The precise scorer's tokenizer by model name from the Hugging Face Hub (faked: nothing is downloaded)."""

from __future__ import annotations

import shutil
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
from picker.config.builder import build_scheduling
from picker.config.errors import ConfigError
from picker.config.model import EndpointPickerConfig
from picker.framework.context import PluginContext
from picker.framework.types import InferenceRequest
from picker.plugins import builtin_registry
from picker.plugins.kv_event_prefix_index import TokenizerConfig
from picker.preflight import check_config
from picker.tokenization.hub_download import TokenizerDownloadError, download_tokenizer
from picker.tokenization.request_tokenizer import RequestTokenizer
from pydantic import ValidationError

from tests.picker.tokenization.tiny_tokenizer import build_tiny_tokenizer


class FakeHub:
    """``hf_hub_download`` answering from a local model folder, recording what was asked."""

    def __init__(self, model_dir: Path, files: tuple[str, ...]) -> None:
        self.model_dir = model_dir
        self.files = files
        self.calls: list[tuple[str, str, str | None, Path]] = []

    def __call__(self, repo_id: str, filename: str, *, revision: str | None = None,
                 cache_dir: Path | None = None) -> str:
        assert cache_dir is not None
        self.calls.append((repo_id, filename, revision, cache_dir))
        if filename not in self.files:
            raise EntryNotFoundError(f"{filename} not in {repo_id}")
        snapshot = Path(cache_dir) / "snapshots" / (revision or "main")
        snapshot.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.model_dir / filename, snapshot / filename)
        return str(snapshot / filename)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return build_tiny_tokenizer(tmp_path / "model")


def test_a_model_name_loads_the_hubs_tokenizer_and_chat_template(model_dir, tmp_path, monkeypatch) -> None:
    hub = FakeHub(model_dir, ("tokenizer.json", "tokenizer_config.json"))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub)
    config = TokenizerConfig.model_validate(
        {"modelName": "org/model", "revision": "abc", "cacheDir": str(tmp_path / "cache")})
    loaded = config.load()
    assert [call[:3] for call in hub.calls] == [("org/model", "tokenizer.json", "abc"),
                                               ("org/model", "tokenizer_config.json", "abc")]
    assert hub.calls[0][3] == tmp_path / "cache"
    from_files = RequestTokenizer.from_directory(model_dir)
    chat = InferenceRequest("r", "m", "m", "", {"model": "m", "messages": [{"role": "user", "content": "pizza"}]})
    assert loaded.token_ids(chat) == from_files.token_ids(chat)
    assert loaded.token_ids(chat) != RequestTokenizer.approximate().token_ids(chat)


def test_a_repository_without_tokenizer_config_still_loads(model_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", FakeHub(model_dir, ("tokenizer.json",)))
    assert download_tokenizer("org/model", None, tmp_path).joinpath("tokenizer.json").is_file()


def test_a_refused_download_names_the_token_and_the_offline_option(tmp_path, monkeypatch) -> None:
    def offline(*_: object, **__: object) -> str:
        raise LocalEntryNotFoundError("cannot reach the Hub and the file is not in the cache")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(TokenizerDownloadError, match=r"LocalEntryNotFoundError.*HF_TOKEN.*tokenizer\.path"):
        download_tokenizer("meta-llama/x", None, tmp_path)
    config = EndpointPickerConfig.model_validate({"plugins": [
        {"type": "precise-prefix-cache-scorer", "parameters": {"tokenizer": {"modelName": "meta-llama/x"}}}]})
    with pytest.raises(ConfigError, match="HF_TOKEN"):
        build_scheduling(config, builtin_registry(), _context())


def test_path_and_model_name_are_exclusive_and_hub_options_need_a_model() -> None:
    with pytest.raises(ValidationError, match="not both"):
        TokenizerConfig.model_validate({"path": "/t", "modelName": "org/model"})
    with pytest.raises(ValidationError, match=r"need tokenizer\.modelName"):
        TokenizerConfig.model_validate({"cacheDir": "cache"})


def test_preflight_neither_downloads_nor_reads_the_pods_files(monkeypatch) -> None:
    def refuse(*_: object, **__: object) -> str:
        raise AssertionError("preflight must not download")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    for tokenizer in ({"modelName": "org/model"}, {"path": "/only/in/the/pod"}):
        check_config(EndpointPickerConfig.model_validate({"plugins": [
            {"type": "precise-prefix-cache-scorer", "parameters": {"tokenizer": tokenizer}}]}))


def _context() -> PluginContext:
    import random

    from picker.framework.clock import FakeClock
    from picker.framework.in_flight import InFlightTracker

    return PluginContext(clock=FakeClock(), rng=random.Random(0), in_flight=InFlightTracker())
