"""The one call the composition root (``python -m picker``) makes to get a ready Director."""

from __future__ import annotations

import random

from picker.admission.saturation_detector import SaturationDetector
from picker.admission.sheddable_headroom import SheddableHeadroom
from picker.config.builder import build_scheduling
from picker.config.model import EndpointPickerConfig
from picker.datastore.store import EndpointStore
from picker.director import Director
from picker.engine_priority import ModelServerSchedulingPolicy
from picker.flowcontrol.flow_controller import FlowController
from picker.framework.clock import Clock
from picker.framework.context import PluginContext
from picker.framework.in_flight import InFlightTracker
from picker.framework.placement_sharing import NoPlacementSharing, PlacementSharing
from picker.framework.registry import PluginRegistry
from picker.metrics import PickerMetrics
from picker.options import PickerOptions
from picker.plugins import builtin_registry

# Keyword defaults below are the picker's flags' (PickerOptions), for callers that build a director in code.
_FLAGS = PickerOptions.model_fields


def build_director(
    config: EndpointPickerConfig,
    store: EndpointStore,
    clock: Clock,
    rng: random.Random,
    metrics: PickerMetrics | None = None,
    registry: PluginRegistry | None = None,
    *,
    pool_gauge_interval_s: float = _FLAGS["refresh_prometheus_metrics_interval_s"].default,
    pool_gauge_staleness_s: float = _FLAGS["metrics_staleness_threshold_s"].default,
    model_server_scheduling_policy: ModelServerSchedulingPolicy = _FLAGS["model_server_scheduling_policy"].default,
    placements: PlacementSharing | None = None,
    in_flight: InFlightTracker | None = None,
) -> Director:
    """Build the Director (a ``RequestDirector``) from a validated config.

    Call it before serving: it instantiates every plugin, applies the EPP defaulting rules and validates
    the result, raising ``picker.config.ConfigError`` (indexed paths, e.g. ``plugins[2].parameters.blockSize``)
    before anything is started. Typical wiring::

        config = load_config_file(path)                  # or default_config() / recommended_config()
        store = EndpointStore()
        source = StaticEndpointSource(file, store, clock) # or KubernetesEndpointSource(store, clock, pool, ns)
        metrics = PickerMetrics(pool_name)               # serve metrics.registry on --metrics-port
        director = build_director(config, store, clock, random.Random(seed), metrics)
        # background tasks for the process lifetime:
        #   source.run(), MetricsScraper(store, clock, ScrapeSettings(interval_s=...)).run(), director.run()
        # readiness: store.synced

    Args:
        config: the EndpointPickerConfig (already shape-validated by the loader or built in code).
        store: the endpoint store that sources and the scraper keep current.
        clock: RealClock in production, FakeClock in tests.
        rng: the only randomness (tie-breaks, random pickers); seed it for reproducible runs.
        metrics: where to record the EPP's metrics; None records into an unscraped registry.
        registry: plugin types to build from; defaults to every in-tree plugin.
        pool_gauge_interval_s: --refresh-prometheus-metrics-interval (pool gauges flush period).
        pool_gauge_staleness_s: --metrics-staleness-threshold (endpoints older than this leave the averages).
        model_server_scheduling_policy: --model-server-scheduling-policy; ``priority`` writes the
            objective's priority into request bodies as vLLM's ``priority`` (picker.engine_priority).
        placements: where plugins share their placements with sibling deciders (``--workers``); none: alone.
        in_flight: the in-flight counts, when a transport shares them with sibling deciders; none: a new one.
    """
    # Without a sink of its own the picker records into an unscraped registry: no "is there a metrics
    # object" branch anywhere on the request path.
    metrics = metrics if metrics is not None else PickerMetrics("unscraped")
    in_flight = in_flight if in_flight is not None else InFlightTracker()
    context = PluginContext(
        clock=clock,
        rng=rng,
        in_flight=in_flight,
        metrics=metrics,
        placements=placements if placements is not None else NoPlacementSharing(),
    )
    scheduling = build_scheduling(
        config, registry if registry is not None else builtin_registry(), context, observe=metrics.observe_plugin
    )
    saturation = config.effective_saturation_detector()
    detector = SaturationDetector(saturation, clock)
    flow_controller = (
        FlowController(config.effective_flow_control(), clock, metrics)
        if config.flow_control_enabled
        else None
    )
    sheddable_in_flight = InFlightTracker()
    headroom = (
        SheddableHeadroom(
            config.sheddable_headroom,
            sheddable_in_flight=sheddable_in_flight,
            in_flight=in_flight,
            metrics_staleness_s=saturation.metrics_staleness_threshold,
            clock=clock,
        )
        if config.sheddable_headroom.enabled
        else None
    )
    return Director(
        store=store,
        scheduling=scheduling,
        detector=detector,
        flow_controller=flow_controller,
        in_flight=in_flight,
        clock=clock,
        rng=rng,
        metrics=metrics,
        sheddable_in_flight=sheddable_in_flight,
        headroom=headroom,
        pool_gauge_interval_s=pool_gauge_interval_s,
        pool_gauge_staleness_s=pool_gauge_staleness_s,
        model_server_scheduling_policy=model_server_scheduling_policy,
    )
