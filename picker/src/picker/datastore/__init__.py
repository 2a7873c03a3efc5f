"""Endpoint datastore: the pool's endpoints and their metrics, fed by a static file or Kubernetes.

``picker.datastore.kubernetes_source.KubernetesEndpointSource`` is not re-exported here: importing the
Kubernetes client costs about a second, which local runs with a static file should not pay.
"""

from __future__ import annotations

from picker.datastore.endpoints_file import StaticEndpoint, StaticObjective, StaticPoolFile, parse_static_pool
from picker.datastore.pool_membership import PoolMembership, PoolSpec
from picker.datastore.scraper import MetricsScraper, ScrapeSettings
from picker.datastore.static_source import StaticEndpointSource
from picker.datastore.store import EndpointStore
from picker.datastore.vllm_metrics import MetricsParseError, parse_vllm_metrics

__all__ = [
    "EndpointStore",
    "MetricsParseError",
    "MetricsScraper",
    "PoolMembership",
    "PoolSpec",
    "ScrapeSettings",
    "StaticEndpoint",
    "StaticEndpointSource",
    "StaticObjective",
    "StaticPoolFile",
    "parse_static_pool",
    "parse_vllm_metrics",
]
