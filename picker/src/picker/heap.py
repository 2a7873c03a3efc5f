"""The picker's one garbage-collector setting, applied once the process has built everything it keeps.

Decision time is the picker's budget (p99 <= 2 ms at 128 endpoints and 8k-token prompts), and CPython's
cyclic collector pauses the event loop while it walks tracked objects: an oldest-generation pass walks every
object the process holds. After start-up that is ~100k objects nobody frees again (imported modules, the
validated config, pydantic schemas, the built plugins), walked by each full collection for nothing.
``gc.freeze()`` moves them to the permanent generation, out of every later collection; the objects created
while serving (index entries, caches, requests) are still collected as before. The collector's thresholds
stay CPython's: the hot path keeps its long-lived data in forms the collector does not walk (bytes, arrays,
tuples of ints; see ``tokenization.chunk_cache``) instead of collecting less often.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect start-up garbage, then exclude everything still alive from future collections; returns how
    many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
