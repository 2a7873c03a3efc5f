"""The simulator's approximate tokenizer (``sim/tokenizer.py``), so the picker cuts simulator prompts into the
same token blocks the simulator hashes. Words with their leading whitespace, split into pieces of at most 4
UTF-8 bytes; a piece's id is its bytes read as a big-endian unsigned int. Not a real model's vocabulary.
"""

from __future__ import annotations

import re

_MAX_PIECE_BYTES = 4
_WORD = re.compile(r"\x00|\s*[^\s\x00]+|\s+")


class ApproximateTokenizer:
    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text`` (this tokenizer has no special tokens)."""
        token_ids: list[int] = []
        for match in _WORD.finditer(text):
            current = b""
            for char in match.group():
                encoded = char.encode("utf-8")
                if current and len(current) + len(encoded) > _MAX_PIECE_BYTES:
                    token_ids.append(int.from_bytes(current, "big"))
                    current = b""
                current += encoded
            if current:
                token_ids.append(int.from_bytes(current, "big"))
        return token_ids
