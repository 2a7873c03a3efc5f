"""Built-in scheduling plugins (one per module) and the registry that knows them by kebab-case type."""

from __future__ import annotations

from picker.framework.registry import PluginRegistry
from picker.plugins.approx_prefix_cache_producer import (
    APPROX_PREFIX_CACHE_PRODUCER_TYPE,
    create_approx_prefix_cache_producer,
)
from picker.plugins.core_metrics_extractor import CORE_METRICS_EXTRACTOR_TYPE, create_core_metrics_extractor
from picker.plugins.header_based_testing_filter import (
    HEADER_BASED_TESTING_FILTER_TYPE,
    create_header_based_testing_filter,
)
from picker.plugins.inflight_load_producer import INFLIGHT_LOAD_PRODUCER_TYPE, create_inflight_load_producer
from picker.plugins.kv_cache_utilization_scorer import (
    KV_CACHE_UTILIZATION_SCORER_TYPE,
    create_kv_cache_utilization_scorer,
)
from picker.plugins.kv_event_prefix_index import (
    PRECISE_PREFIX_CACHE_PRODUCER_TYPE,
    PRECISE_PREFIX_CACHE_SCORER_TYPE,
)
from picker.plugins.load_headroom_scorer import LOAD_HEADROOM_SCORER_TYPE, create_load_headroom_scorer
from picker.plugins.lora_affinity_scorer import LORA_AFFINITY_SCORER_TYPE, create_lora_affinity_scorer
from picker.plugins.max_score_picker import MAX_SCORE_PICKER_TYPE, create_max_score_picker
from picker.plugins.metrics_data_source import METRICS_DATA_SOURCE_TYPE, create_metrics_data_source
from picker.plugins.precise_prefix_cache_producer import create_precise_prefix_cache_producer
from picker.plugins.precise_prefix_cache_scorer import create_precise_prefix_cache_scorer
from picker.plugins.prefix_cache_affinity_filter import (
    PREFIX_CACHE_AFFINITY_FILTER_TYPE,
    create_prefix_cache_affinity_filter,
)
from picker.plugins.prefix_cache_scorer import PREFIX_CACHE_SCORER_TYPE, create_prefix_cache_scorer
from picker.plugins.prefix_spill_scorer import PREFIX_SPILL_SCORER_TYPE, create_prefix_spill_scorer
from picker.plugins.queue_scorer import QUEUE_SCORER_TYPE, create_queue_scorer
from picker.plugins.random_picker import RANDOM_PICKER_TYPE, create_random_picker
from picker.plugins.single_profile_handler import SINGLE_PROFILE_HANDLER_TYPE, create_single_profile_handler
from picker.plugins.token_load_scorer import TOKEN_LOAD_SCORER_TYPE, create_token_load_scorer
from picker.plugins.utilization_detector import UTILIZATION_DETECTOR_TYPE, create_utilization_detector
from picker.plugins.weighted_random_picker import WEIGHTED_RANDOM_PICKER_TYPE, create_weighted_random_picker


def builtin_registry() -> PluginRegistry:
    """A fresh registry holding every in-tree plugin type."""
    registry = PluginRegistry()
    registry.register(PREFIX_CACHE_SCORER_TYPE, create_prefix_cache_scorer)
    registry.register(QUEUE_SCORER_TYPE, create_queue_scorer)
    registry.register(KV_CACHE_UTILIZATION_SCORER_TYPE, create_kv_cache_utilization_scorer)
    registry.register(LORA_AFFINITY_SCORER_TYPE, create_lora_affinity_scorer)
    registry.register(MAX_SCORE_PICKER_TYPE, create_max_score_picker)
    registry.register(RANDOM_PICKER_TYPE, create_random_picker)
    registry.register(WEIGHTED_RANDOM_PICKER_TYPE, create_weighted_random_picker)
    registry.register(HEADER_BASED_TESTING_FILTER_TYPE, create_header_based_testing_filter)
    registry.register(SINGLE_PROFILE_HANDLER_TYPE, create_single_profile_handler)
    registry.register(PREFIX_SPILL_SCORER_TYPE, create_prefix_spill_scorer)
    registry.register(LOAD_HEADROOM_SCORER_TYPE, create_load_headroom_scorer)
    registry.register(PRECISE_PREFIX_CACHE_SCORER_TYPE, create_precise_prefix_cache_scorer)
    # llm-d-router v0.10: "sticky until saturated" and its producers, the data layer, the detector.
    registry.register(PREFIX_CACHE_AFFINITY_FILTER_TYPE, create_prefix_cache_affinity_filter)
    registry.register(TOKEN_LOAD_SCORER_TYPE, create_token_load_scorer)
    registry.register(INFLIGHT_LOAD_PRODUCER_TYPE, create_inflight_load_producer)
    registry.register(APPROX_PREFIX_CACHE_PRODUCER_TYPE, create_approx_prefix_cache_producer)
    registry.register(PRECISE_PREFIX_CACHE_PRODUCER_TYPE, create_precise_prefix_cache_producer)
    registry.register(UTILIZATION_DETECTOR_TYPE, create_utilization_detector)
    registry.register(METRICS_DATA_SOURCE_TYPE, create_metrics_data_source)
    registry.register(CORE_METRICS_EXTRACTOR_TYPE, create_core_metrics_extractor)
    return registry


__all__ = ["builtin_registry"]
