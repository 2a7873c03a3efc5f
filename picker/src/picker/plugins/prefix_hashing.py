"""Chained xxhash64 block hashes of a prompt, as the EPP's approximate prefix cache computes them.

h0 = xxh64(target_model || cache_salt); h_i = xxh64(block_i || little_endian_u64(h_{i-1})). Each block hash
therefore stands for the model, the salt and the whole prefix up to that block. Blocks are UTF-8 bytes of
the prompt text (characters, for ASCII), a trailing partial block is ignored, and at most ``max_blocks``
are hashed.
"""

from __future__ import annotations

from xxhash import xxh64_intdigest


def prefix_block_hashes(
    target_model: str, cache_salt: str, prompt_text: str, block_size: int, max_blocks: int
) -> list[int]:
    """Hashes of the prompt's leading full blocks, in order (empty when the prompt is shorter than a block)."""
    prompt_bytes = prompt_text.encode()
    block_count = min(len(prompt_bytes) // block_size, max_blocks)
    if block_count <= 0:
        return []
    previous = xxh64_intdigest((target_model + cache_salt).encode())
    hashes = [0] * block_count
    for index in range(block_count):
        start = index * block_size
        previous = xxh64_intdigest(prompt_bytes[start : start + block_size] + previous.to_bytes(8, "little"))
        hashes[index] = previous
    return hashes
