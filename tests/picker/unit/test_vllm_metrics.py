from __future__ import annotations

import pytest
from picker.datastore.vllm_metrics import MetricsParseError, parse_vllm_metrics

from tests.picker.unit.vllm_pages import SIM_PAGE, VLLM_PAGE


def test_full_vllm_page() -> None:
    metrics = parse_vllm_metrics(VLLM_PAGE, scraped_at_s=42.0)
    assert metrics.running_requests == 3
    assert metrics.waiting_queue_size == 7
    assert metrics.kv_cache_usage_ratio == pytest.approx(0.4217)
    # the empty series is newer, but the EPP takes the newest series that names adapters
    assert metrics.active_lora_adapters == {"sql-lora", "tweets"}
    assert metrics.waiting_lora_adapters == {"chat"}
    assert metrics.max_active_loras == 2
    assert metrics.cache_block_size_tokens == 16
    assert metrics.num_gpu_blocks == 27913
    assert metrics.updated_at_s == 42.0


def test_legacy_kv_name_is_the_fallback() -> None:
    metrics = parse_vllm_metrics(SIM_PAGE, 0.0)
    assert metrics.kv_cache_usage_ratio == pytest.approx(0.3)
    assert metrics.cache_block_size_tokens is None
    assert metrics.num_gpu_blocks is None


@pytest.mark.parametrize(
    ("labels", "block_size", "num_gpu_blocks"),
    [
        ('block_size="16",num_gpu_blocks="600"', 16, 600),
        ('block_size="16"', 16, None),  # vLLM versions before the label
        ('block_size="16",num_gpu_blocks="None"', 16, None),  # not profiled yet
        ('block_size="32",num_gpu_blocks="0"', 32, None),
    ],
    ids=["both", "no block count", "None", "zero"],
)
def test_cache_config_info_block_count(labels: str, block_size: int, num_gpu_blocks: int | None) -> None:
    page = SIM_PAGE + f"vllm:cache_config_info{{{labels}}} 1.0\n"
    metrics = parse_vllm_metrics(page, 0.0)
    assert metrics.cache_block_size_tokens == block_size
    assert metrics.num_gpu_blocks == num_gpu_blocks


def test_new_kv_name_wins_over_legacy() -> None:
    page = SIM_PAGE + 'vllm:kv_cache_usage_perc{model_name="base"} 0.6\n'
    assert parse_vllm_metrics(page, 0.0).kv_cache_usage_ratio == pytest.approx(0.6)


def test_series_of_several_engines_add_up() -> None:
    page = (
        'vllm:num_requests_waiting{engine="0"} 2\nvllm:num_requests_waiting{engine="1"} 3\n'
        'vllm:kv_cache_usage_perc{engine="0"} 0.2\nvllm:kv_cache_usage_perc{engine="1"} 0.7\n'
    )
    metrics = parse_vllm_metrics(page, 0.0)
    assert metrics.waiting_queue_size == 5
    assert metrics.kv_cache_usage_ratio == pytest.approx(0.7)


@pytest.mark.parametrize(
    "page",
    [
        "",
        "<html><body><h1>502 Bad Gateway</h1></body></html>\n",
        "# TYPE other gauge\nother 1\n",
        # families announced but no sample: still no load reading
        "# TYPE vllm:num_requests_waiting gauge\n# TYPE vllm:kv_cache_usage_perc gauge\n",
        # only non-load vLLM families
        'vllm:cache_config_info{block_size="16"} 1\n',
    ],
    ids=["empty", "html", "other families", "type lines only", "no load family"],
)
def test_page_without_vllm_load_metrics_is_a_parse_error(page: str) -> None:
    # Reading such a page as zero load would make a broken replica look idle and attract traffic.
    with pytest.raises(MetricsParseError, match="no vLLM load metrics"):
        parse_vllm_metrics(page, 1.0)


@pytest.mark.parametrize(
    "page",
    [
        "vllm:num_requests_waiting 2\n",
        "vllm:num_requests_running 1\n",
        "vllm:kv_cache_usage_perc 0.5\n",
        "vllm:gpu_cache_usage_perc 0.5\n",
    ],
    ids=["waiting", "running", "kv", "legacy kv"],
)
def test_any_one_load_family_is_enough_and_the_others_read_as_zero(page: str) -> None:
    metrics = parse_vllm_metrics(page, 1.0)
    assert metrics.waiting_queue_size + metrics.running_requests + metrics.kv_cache_usage_ratio > 0


@pytest.mark.parametrize(
    "page",
    ['vllm:num_requests_waiting{model_name="x" 3\n', "vllm:num_requests_waiting lots\n"],
    ids=["unterminated labels", "non-numeric value"],
)
def test_garbage_raises_parse_error(page: str) -> None:
    with pytest.raises(MetricsParseError):
        parse_vllm_metrics(page, 0.0)
