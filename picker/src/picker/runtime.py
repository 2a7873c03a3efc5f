"""The picker's decision runtime for one process: config, endpoint store and source (Kubernetes or a
static file), scraper, Director and metrics, built from PickerOptions. Serves as ``app.PickerRuntime``."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from picker.config.defaults import default_config
from picker.config.loader import load_config_file, load_config_text
from picker.config.model import EndpointPickerConfig
from picker.datastore.scraper import MetricsScraper, ScrapeSettings
from picker.datastore.static_source import StaticEndpointSource
from picker.datastore.store import EndpointStore
from picker.director import Director
from picker.factory import build_director
from picker.framework.clock import Clock
from picker.framework.in_flight import InFlightTracker
from picker.heap import freeze_startup_heap
from picker.metrics import PickerMetrics
from picker.options import PickerOptions
from picker.placements.datagram_channel import ChannelAddresses, DatagramPlacementChannel
from picker.placements.peer_addresses import PeerAddresses

if TYPE_CHECKING:
    from picker.datastore.kubernetes_source import KubernetesEndpointSource


def load_scheduling_config(options: PickerOptions) -> EndpointPickerConfig:
    """--config-file or --config-text; neither means the EPP's default profile (documented in the README)."""
    if options.config_file is not None:
        return load_config_file(options.config_file)
    if options.config_text is not None:
        return load_config_text(options.config_text, source="--config-text")
    return default_config()


class ProcessRuntime:
    """Owns the long-lived decision objects and runs their background loops together."""

    def __init__(
        self,
        options: PickerOptions,
        clock: Clock,
        environ: Mapping[str, str],
        siblings: ChannelAddresses | None = None,
    ) -> None:
        """Build everything; raises ConfigError (bad config or endpoints file) before anything runs.
        ``siblings``: share placements with these sibling deciders (a worker's, from its supervisor)."""
        config = load_scheduling_config(options)
        self.store = EndpointStore()
        self._static_source: StaticEndpointSource | None = None
        self._kubernetes_source: KubernetesEndpointSource | None = None
        pool_name = options.pool_name or "static"
        if options.endpoints_file is not None:
            self._static_source = StaticEndpointSource(options.endpoints_file, self.store, clock)
            self._static_source.load()  # a bad file fails the start, naming the key
        else:
            # Imported here: the Kubernetes client takes seconds to import, which local runs should not pay.
            from picker.datastore.kubernetes_source import KubernetesEndpointSource

            self._kubernetes_source = KubernetesEndpointSource(
                self.store,
                clock,
                options.pool_name,
                options.resolved_pool_namespace(environ),
                options.pool_group,
                options.kubeconfig,
            )
        self.metrics = PickerMetrics(pool_name)
        self._peers: PeerAddresses | None = None
        if siblings is None and options.placement_port:
            # Active-active replicas: placements to and from the peers over UDP.
            family = socket.AF_INET6 if ":" in options.bind_address else socket.AF_INET
            siblings = ChannelAddresses(family, (options.bind_address, options.placement_port), ())
            self._peers = PeerAddresses(
                options.placement_peer_list() if options.placement_peers else [],
                family,
                options.placement_peers_refresh_s,
                clock,
            )
        # The deciders share placements and what each has in flight per endpoint (the load scorers, the
        # spill rule and flow control read the pool's in flight, not this decider's share of it).
        in_flight = InFlightTracker()
        self._placements = (
            DatagramPlacementChannel(siblings, self.metrics, in_flight, clock) if siblings is not None else None
        )
        self._director = build_director(
            config,
            self.store,
            clock,
            random.Random(options.seed),
            self.metrics,
            pool_gauge_interval_s=options.refresh_prometheus_metrics_interval_s,
            pool_gauge_staleness_s=options.metrics_staleness_threshold_s,
            model_server_scheduling_policy=options.model_server_scheduling_policy,
            placements=self._placements,
            in_flight=in_flight,
        )
        self._scraper = MetricsScraper(
            self.store,
            clock,
            ScrapeSettings(
                interval_s=options.refresh_metrics_interval_s,
                scheme=options.model_server_metrics_scheme,
                path=options.model_server_metrics_path,
                metrics_port=options.model_server_metrics_port or None,
                verify_tls=not options.model_server_metrics_https_insecure_skip_verify,
            ),
        )
        freeze_startup_heap()  # last: everything built so far lives as long as the process

    @property
    def director(self) -> Director:
        return self._director

    @property
    def registry(self) -> CollectorRegistry:
        return self.metrics.registry

    def is_synced(self) -> bool:
        return self.store.synced

    async def run(self) -> None:
        """Discovery, scraping and the director's loops until cancelled; the first failure ends them all."""
        source = self._static_source or self._kubernetes_source
        assert source is not None
        async with asyncio.TaskGroup() as group:
            group.create_task(source.run(), name="picker:discovery")
            group.create_task(self._scraper.run(), name="picker:scraper")
            group.create_task(self._director.run(), name="picker:director")
            if self._placements is not None:
                group.create_task(self._placements.run(), name="picker:placement-sharing")
                if self._peers is not None:
                    group.create_task(self._peers.run(self._placements), name="picker:placement-peers")
