"""Load shapes: open loop (Poisson arrivals at a rate) and closed loop (fixed concurrency)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class OpenLoop(BaseModel):
    """Requests arrive as a Poisson process at ``rate_rps`` regardless of how fast they finish."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["open"] = "open"
    rate_rps: float = Field(gt=0, le=100_000)
    duration_s: float = Field(default=30.0, gt=0, le=3600, description="Stop sending after this long.")
    drain_timeout_s: float = Field(default=30.0, ge=0, le=3600,
                                   description="Then wait at most this long for in-flight requests.")

    def label(self) -> str:
        return f"open {self.rate_rps:g} req/s"


class ClosedLoop(BaseModel):
    """``concurrency`` workers each send their next request as soon as the previous one finishes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["closed"] = "closed"
    concurrency: int = Field(ge=1, le=10_000)
    duration_s: float = Field(default=30.0, gt=0, le=3600)
    drain_timeout_s: float = Field(default=30.0, ge=0, le=3600)

    def label(self) -> str:
        return f"closed x{self.concurrency}"


LoadShape = Annotated[OpenLoop | ClosedLoop, Field(discriminator="kind")]
