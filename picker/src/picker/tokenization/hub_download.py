"""A model's tokenizer files from the Hugging Face Hub, by model name, into a local cache directory.

What vLLM does for ``--tokenizer`` (and llm-d's tokenizer pool did with ``modelName``): ``tokenizer.json`` and,
when the repository has one, ``tokenizer_config.json`` (chat template, BOS/EOS) through ``huggingface_hub``
(declared in the picker's pyproject). The token comes from ``HF_TOKEN`` as ``huggingface_hub`` reads it, so a
gated model (Llama) needs the same Secret the model servers use. Files already in ``cache_dir`` are reused;
nothing else of the model is downloaded.
"""

from __future__ import annotations

from pathlib import Path

from chat_prompt import TOKENIZER_CONFIG_FILE

TOKENIZER_FILE = "tokenizer.json"


class TokenizerDownloadError(ValueError):
    """The Hub did not give the tokenizer (offline, unknown or gated model, bad token); says what to fix."""


def download_tokenizer(model_name: str, revision: str | None, cache_dir: Path | None) -> Path:
    """The directory holding the model's ``tokenizer.json`` (+ ``tokenizer_config.json`` when it has one)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HFValidationError

    try:
        tokenizer_file = Path(
            hf_hub_download(model_name, TOKENIZER_FILE, revision=revision, cache_dir=cache_dir)
        )
    except HFValidationError as error:
        raise TokenizerDownloadError(
            f"tokenizer.modelName {model_name!r} is not a Hugging Face model id: {error}"
        ) from error
    except Exception as error:  # huggingface_hub's HTTP, offline and gated-repository errors all land here
        raise TokenizerDownloadError(
            f"cannot download {TOKENIZER_FILE} of {model_name!r} from the Hugging Face Hub "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no detail'}); "
            "set HF_TOKEN for a gated model, or set tokenizer.path to a directory with the model's tokenizer files"
        ) from error
    try:
        hf_hub_download(model_name, TOKENIZER_CONFIG_FILE, revision=revision, cache_dir=cache_dir)
    except EntryNotFoundError:
        pass  # no chat template or BOS/EOS settings: completions tokenize the same, chat uses the Llama 3 format
    return tokenizer_file.parent
