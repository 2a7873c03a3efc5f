"""One replica's routing-relevant state, read from its vLLM-style /metrics page: queue, running batch,
KV-cache use, prefix-cache hit rate and the LoRA adapters in use."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, ConfigDict

_WAITING = "vllm:num_requests_waiting"
_RUNNING = "vllm:num_requests_running"
_KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")  # current name first, legacy second
_PREFIX_HITS = "vllm:prefix_cache_hits_total"
_PREFIX_QUERIES = "vllm:prefix_cache_queries_total"
_LORA_INFO = "vllm:lora_requests_info"
_SUCCESS = "vllm:request_success_total"


class ReplicaStatus(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    up: bool
    waiting: int = 0
    running: int = 0
    kv_usage: float = 0.0  # 0..1
    prefix_hits: float = 0.0
    prefix_queries: float = 0.0
    running_adapters: tuple[str, ...] = ()
    waiting_adapters: tuple[str, ...] = ()
    requests_done: int = 0
    error: str | None = None

    @property
    def prefix_hit_rate(self) -> float | None:
        """Share of prompt tokens served from the prefix cache since start; None before any query."""
        return self.prefix_hits / self.prefix_queries if self.prefix_queries else None


def _adapters(value: str) -> tuple[str, ...]:
    return tuple(name for name in value.split(",") if name)


def parse_replica_metrics(name: str, text: str) -> ReplicaStatus:
    """Parse a /metrics page. Raises ValueError when it is not Prometheus text."""
    sums: dict[str, float] = {}
    lora_series: list[tuple[float, dict[str, str]]] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == _LORA_INFO:
                # vLLM emits one series per adapter-set change; the value is its timestamp.
                lora_series.append((sample.value, dict(sample.labels)))
            else:
                sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
    kv_name = next((candidate for candidate in _KV_USAGE if candidate in sums), None)
    latest_lora = max(lora_series, key=lambda series: series[0])[1] if lora_series else {}
    return ReplicaStatus(
        name=name,
        up=True,
        waiting=int(sums.get(_WAITING, 0)),
        running=int(sums.get(_RUNNING, 0)),
        kv_usage=sums[kv_name] if kv_name else 0.0,
        prefix_hits=sums.get(_PREFIX_HITS, 0.0),
        prefix_queries=sums.get(_PREFIX_QUERIES, 0.0),
        running_adapters=_adapters(latest_lora.get("running_lora_adapters", "")),
        waiting_adapters=_adapters(latest_lora.get("waiting_lora_adapters", "")),
        requests_done=int(sums.get(_SUCCESS, 0)),
    )


async def fetch_replica_status(
    session: aiohttp.ClientSession, name: str, base_url: str, timeout_s: float = 1.0
) -> ReplicaStatus:
    """Scrape ``base_url``/metrics; a replica that does not answer is reported down, not raised."""
    try:
        async with session.get(
            f"{base_url}/metrics", timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as response:
            if response.status != 200:
                return ReplicaStatus(name=name, up=False, error=f"/metrics answered {response.status}")
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError) as error:
        return ReplicaStatus(name=name, up=False, error=type(error).__name__)
    try:
        return parse_replica_metrics(name, text)
    except ValueError as error:
        return ReplicaStatus(name=name, up=False, error=f"unparseable /metrics: {error}")
