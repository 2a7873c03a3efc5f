"""picker.fast_metrics patches prometheus-client internals: the installed library must be in the range
picker/pyproject.toml pins, and the internals the patch relies on must still be there."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from picker.fast_metrics import FastCounter, FastGauge, FastHistogram
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.values import MutexValue

PYPROJECT = Path(__file__).resolve().parents[2] / "picker" / "pyproject.toml"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_installed_prometheus_client_is_in_the_pinned_range() -> None:
    pin = re.search(r'"prometheus-client>=([\d.]+),<([\d.]+)"', PYPROJECT.read_text(encoding="utf-8"))
    assert pin is not None, "picker/pyproject.toml no longer pins prometheus-client; re-check fast_metrics"
    installed = _version(metadata.version("prometheus-client"))
    assert _version(pin.group(1)) <= installed < _version(pin.group(2))


def test_the_patched_internals_exist() -> None:
    """What fast_metrics swaps out: the library's default locked value, made in `_metric_init`."""
    assert hasattr(MetricWrapperBase, "_metric_init")
    plain = Counter("plain", "p", registry=CollectorRegistry())
    assert type(plain._value) is MutexValue  # the value class fast_metrics replaces
    histogram = FastHistogram("h", "h", buckets=(1.0, 2.0), registry=CollectorRegistry())
    assert hasattr(histogram, "_buckets")
    assert type(histogram._buckets[0]) is not MutexValue  # replaced: no lock per observation


def test_patched_metrics_expose_what_the_library_would() -> None:
    registry = CollectorRegistry()
    counter = FastCounter("requests", "r", ("model",), registry=registry)
    gauge = FastGauge("queue", "q", registry=registry)
    histogram = FastHistogram("latency_seconds", "l", buckets=(0.1, 1.0), registry=registry)
    counter.labels("m").inc()
    counter.labels("m").inc(2)
    gauge.set(4)
    for value in (0.05, 0.5, 5.0):
        histogram.observe(value)
    text = generate_latest(registry).decode()
    assert 'requests_total{model="m"} 3.0' in text
    assert "queue 4.0" in text
    assert 'latency_seconds_bucket{le="0.1"} 1.0' in text
    assert 'latency_seconds_bucket{le="1.0"} 2.0' in text
    assert 'latency_seconds_bucket{le="+Inf"} 3.0' in text
