"""The picker's own block keys: chained xxh64 over fixed-size token-id chunks.

Servers' block hashes are opaque (vLLM's are sha256 with a per-process seed), so the picker keys blocks
from token ids, the same way on both sides of a lookup: from ``BlockStored.token_ids`` when indexing and
from the request's token ids when scoring. ``key_0 = xxh64(tokens_0, seed=root)`` and
``key_i = xxh64(tokens_i, seed=key_{i-1})``, where ``root`` hashes the hash seed, the LoRA adapter name and
the cache salt (different adapters or salts never share cache). Tokens are packed as unsigned 32-bit ints.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from xxhash import xxh64_intdigest


class BlockKeyHasher:
    def __init__(self, block_size_tokens: int, hash_seed: str = "") -> None:
        if block_size_tokens < 1:
            raise ValueError(f"block_size_tokens must be >= 1, got {block_size_tokens}")
        self.block_size = block_size_tokens
        self.hash_seed = hash_seed

    def root(self, lora_name: str | None, cache_salt: str | None) -> int:
        return xxh64_intdigest(f"{self.hash_seed}\x00{lora_name or ''}\x00{cache_salt or ''}".encode())

    def chain(self, parent: int, token_ids: Sequence[int], max_blocks: int | None = None) -> list[int]:
        """Keys of the full blocks of ``token_ids`` chained from ``parent`` (a trailing partial block is cut).

        Raises OverflowError for a token id outside [0, 2**32).
        """
        size = self.block_size
        count = len(token_ids) // size
        if max_blocks is not None:
            count = min(count, max_blocks)
        head = token_ids[: count * size]
        packed = (
            head.tobytes() if isinstance(head, array) and head.typecode == "I" else array("I", head).tobytes()
        )
        stride = size * 4
        keys = [0] * count
        for index in range(count):
            parent = xxh64_intdigest(packed[index * stride : (index + 1) * stride], parent)
            keys[index] = parent
        return keys

    def request_keys(
        self,
        token_ids: Sequence[int],
        lora_name: str | None,
        cache_salt: str | None,
        max_blocks: int | None = None,
    ) -> list[int]:
        return self.chain(self.root(lora_name, cache_salt), token_ids, max_blocks)
