"""Names latency a router adds to streamed responses only, so the report does not count it as routing.

Routing happens once per request, before the first byte goes upstream, and is the same whether the answer
streams or not. So a router's routing cost is bounded by what it adds to a non-streamed request's whole
exchange; when it adds clearly more to a streamed one (on zero-latency replicas, where the stream is a
handful of writes in a millisecond) the difference is how it moves streamed bytes. Where that excess
sits (before the first token, between tokens, after the last) and whether it is ~40 ms (a small write
held by Nagle's algorithm until the peer's delayed ACK, Linux's minimum being 40 ms) names the cause.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.overhead.phases import DELAYED_ACK_WINDOW_MS
from bench.report.result import ArtifactPlace, OverheadArtifact, OverheadPhase

# Below this, a streamed-only excess is within what response-body processing and run noise explain.
MIN_EXCESS_MS = 5.0
# ... and the streamed path must add at least this multiple of the non-streamed exchange's cost.
MIN_EXCESS_RATIO = 2.0
# A phase where at least this share of requests shows a 30-50 ms stall carries the delayed-ACK signature.
DELAYED_ACK_SHARE = 0.5

NAGLE_CAUSE = ("Nagle/delayed-ACK signature (~40 ms): a small write waits for an ACK the peer delays; "
               "TCP_NODELAY on the router's sockets removes it")
HELD_CAUSE = "the router holds streamed bytes (buffering or a timer), not a routing decision"
CHUNK_PROCESSING_CAUSE = ("every response chunk makes an ext_proc round trip through the picker (response body "
                          "mode FULL_DUPLEX_STREAMED, for token usage); the -lean target skips it")


def _or_zero(value: float | None) -> float:
    return 0.0 if value is None else value


def streamed_artifact(streamed: OverheadPhase, plain: OverheadPhase,
                      processes_chunks: bool = False) -> OverheadArtifact | None:
    """The artifact in ``streamed`` against the same router's non-streamed phase at the same concurrency.

    ``processes_chunks``: the router hands every response chunk to a processor (the picker's ext_proc in
    FULL_DUPLEX_STREAMED mode), so a streamed-only excess off the 40 ms signature is that processing.
    """
    if streamed.e2e_added_p50_ms is None or plain.e2e_added_p50_ms is None:
        return None
    excess = streamed.e2e_added_p50_ms - plain.e2e_added_p50_ms
    if excess < MIN_EXCESS_MS or streamed.e2e_added_p50_ms < MIN_EXCESS_RATIO * max(plain.e2e_added_p50_ms, 0.0):
        return None
    # Where the streamed-only time went: before the first token, in the longest gap, or after the last.
    located: dict[ArtifactPlace, float] = {
        "before the first token": _or_zero(streamed.ttft_added_p50_ms) - plain.e2e_added_p50_ms,
        "between tokens": _or_zero(streamed.max_gap_added_p50_ms),
        "after the last token": _or_zero(streamed.tail_added_p50_ms),
    }
    where = max(located, key=lambda key: located[key])
    low, high = DELAYED_ACK_WINDOW_MS
    nagle = low <= located[where] <= high or _or_zero(streamed.stall_40ms_share) >= DELAYED_ACK_SHARE
    cause = NAGLE_CAUSE if nagle else CHUNK_PROCESSING_CAUSE if processes_chunks else HELD_CAUSE
    return OverheadArtifact(concurrency=streamed.concurrency, where=where, cause=cause, excess_ms=excess)


def detect_artifacts(phases: Sequence[OverheadPhase], processes_chunks: bool = False) -> list[OverheadArtifact]:
    """One artifact per concurrency at which streamed requests pay clearly more than non-streamed ones."""
    found = []
    for streamed in (p for p in phases if p.stream):
        plain = next((p for p in phases if not p.stream and p.concurrency == streamed.concurrency), None)
        if plain is not None and (artifact := streamed_artifact(streamed, plain, processes_chunks)) is not None:
            found.append(artifact)
    return found
