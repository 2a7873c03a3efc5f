"""Builds a small Hugging Face tokenizer folder from a local text file, with no download.

Run by the inference-perf recipe *inside the inference-perf virtualenv* (it needs only the
``tokenizers`` package, which inference-perf pulls in through ``transformers``):

    python build_tokenizer.py CORPUS.txt OUT_DIR [--vocab-size 8000]

``OUT_DIR`` then loads with ``AutoTokenizer.from_pretrained(OUT_DIR)``, which is all inference-perf
needs to count and synthesize tokens offline. The token counts are this tokenizer's, not Llama's;
the simulator's own counts (its usage block) remain the ones the bench reports.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]
# A Llama-3-style chat template, so chat-API runs render prompts the way the simulator does.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{{ message['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def build(corpus: Path, out_dir: Path, vocab_size: int) -> None:
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train([str(corpus)], trainer)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    (out_dir / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
        "model_max_length": 131072, "chat_template": CHAT_TEMPLATE,
    }, indent=1))
    (out_dir / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="plain-text training corpus")
    parser.add_argument("out_dir", type=Path, help="folder to write tokenizer.json and its config to")
    parser.add_argument("--vocab-size", type=int, default=8000)
    args = parser.parse_args()
    if not args.corpus.is_file():
        parser.error(f"corpus {args.corpus} does not exist; write some text there first")
    build(args.corpus, args.out_dir, args.vocab_size)
    print(f"tokenizer written to {args.out_dir}")


if __name__ == "__main__":
    main()
