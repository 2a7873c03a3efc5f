"""What the driver records about one request; all times in seconds on the driver's monotonic clock."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


@dataclass(slots=True)
class RequestRecord:
    """One request's outcome. ``status`` is the HTTP status, or 0 when no response arrived at all.

    ``error`` is empty for a complete 200 stream; otherwise it says what went wrong (the server's
    error message, ``timeout``, ``connection: ...``, ``truncated stream``).
    """

    index: int
    priority_class: str
    prefix_group: str
    sent_at_s: float
    status: int = 0
    error: str = ""
    first_token_at_s: float | None = None
    finished_at_s: float | None = None
    output_tokens: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int | None = None  # usage.prompt_tokens_details.cached_tokens when reported
    token_times_s: list[float] = field(default_factory=list)
    served_by: str = ""  # x-inference-pod (or similar) response header, when the server sets one

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.error

    @property
    def shed(self) -> bool:
        return self.status == 429

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_token_at_s is None else self.first_token_at_s - self.sent_at_s

    @property
    def e2e_s(self) -> float | None:
        return None if self.finished_at_s is None else self.finished_at_s - self.sent_at_s

    @property
    def inter_token_gaps_s(self) -> list[float]:
        times = self.token_times_s
        return [b - a for a, b in itertools.pairwise(times)]

    @property
    def mean_itl_s(self) -> float | None:
        """Mean time per output token after the first; None for one-token responses."""
        if len(self.token_times_s) < 2:
            return None
        return (self.token_times_s[-1] - self.token_times_s[0]) / (len(self.token_times_s) - 1)
