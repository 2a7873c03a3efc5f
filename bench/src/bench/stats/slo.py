"""The service-level objective that turns throughput into goodput."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bench.driver.record import RequestRecord


class Slo(BaseModel):
    """A request is good when it succeeded, its TTFT is within ``ttft_ms`` and its mean ITL within ``itl_ms``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ttft_ms: float = Field(default=1000.0, gt=0)
    itl_ms: float = Field(default=100.0, gt=0)

    def met_by(self, record: RequestRecord) -> bool:
        if not record.ok or record.ttft_s is None:
            return False
        if record.ttft_s * 1000.0 > self.ttft_ms:
            return False
        itl = record.mean_itl_s
        return itl is None or itl * 1000.0 <= self.itl_ms
