"""A small byte-level BPE tokenizer with Llama 3's special tokens and chat template, built locally with the
``tokenizers`` library (nothing downloaded): ``tokenizer.json`` + ``tokenizer_config.json`` in a directory."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

BOS = "<|begin_of_text|>"
EOT = "<|eot_id|>"
SPECIAL_TOKENS = [BOS, EOT, "<|start_header_id|>", "<|end_header_id|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
CORPUS = [
    "You are a helpful assistant for a pizza shop. Answer briefly and politely.",
    "The quick brown fox jumps over the lazy dog while the cat sleeps in the sun.",
    "Summarise the following support ticket and propose the next action for the customer.",
    "SELECT name, price FROM menu WHERE vegetarian = true ORDER BY price;",
] * 4


def build_tiny_tokenizer(directory: Path) -> Path:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    bos_id = tokenizer.token_to_id(BOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)]
    )
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(directory / "tokenizer.json"))
    config = {"bos_token": BOS, "eos_token": {"content": EOT}, "chat_template": CHAT_TEMPLATE}
    (directory / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return directory


def build_prepending_tokenizer(directory: Path) -> Path:
    """A Llama 2-style SentencePiece BPE as ``tokenizer.json`` has it: a normalizer that prepends "▁" to every
    text and turns spaces into "▁", no pre-tokenizer; so a text cut between words does not tokenize as the
    whole (the cut's second half gains a "▁")."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIAL_TOKENS))
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(directory / "tokenizer.json"))
    return directory
