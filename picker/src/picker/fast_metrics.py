"""prometheus-client metric classes without per-call overhead the picker pays on every request: cached
labelled children and values written without a lock (the picker records from one event loop thread).

This patches library internals (``MutexValue``, ``_metric_init``, ``_buckets``), so it is pinned to the
prometheus-client range in picker/pyproject.toml and tests/picker/test_fast_metrics.py checks those
internals exist; outside that range, use the library's classes instead.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.values import MutexValue

__all__ = ["DualNameMetric", "FastCounter", "FastGauge", "FastHistogram"]


class _EventLoopValue:
    """prometheus-client's ``MutexValue`` without the mutex.

    Every write comes from the picker's event-loop thread, and ``/metrics`` is served on that same loop
    (aiohttp), so the lock each ``inc`` takes (about a third of an observation) protects nothing.
    """

    _multiprocess = False

    def __init__(self, value: float) -> None:
        self._value = value
        self._exemplar: Any = None

    def inc(self, amount: float) -> None:
        self._value += amount

    def set(self, value: float, timestamp: float | None = None) -> None:
        self._value = value

    def set_exemplar(self, exemplar: Any) -> None:
        self._exemplar = exemplar

    def get(self) -> float:
        return self._value

    def get_exemplar(self) -> Any:
        return self._exemplar


def _unlocked(value: Any) -> Any:
    # Only the library's default in-process value is swapped; multiprocess mode keeps its mmap'ed values.
    return _EventLoopValue(value.get()) if type(value) is MutexValue else value  # type: ignore[no-untyped-call]


class _ChildCache:
    """``labels()`` from a dict keyed by the caller's values, and values without locks.

    prometheus-client validates, stringifies and takes a lock on every ``labels()`` call (about 2 us);
    the picker asks for the same few children on every request. Children stay registered in the library's
    own map, so exposition is unchanged; ``remove``/``clear`` drop the cache with them.

    Typing: a mixin, so mypy cannot see the prometheus-client class its ``super()`` calls reach (the
    ``ignore[misc]`` below); ``_buckets`` and ``MutexValue.get`` are untyped library internals.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._cached_children: dict[tuple[Any, ...], Any] = {}
        super().__init__(*args, **kwargs)

    def labels(self, *labelvalues: Any, **labelkwargs: Any) -> Any:
        if labelkwargs:
            return super().labels(*labelvalues, **labelkwargs)  # type: ignore[misc]
        try:
            return self._cached_children[labelvalues]
        except KeyError:
            child = super().labels(*labelvalues)  # type: ignore[misc]
            self._cached_children[labelvalues] = child
            return child
        except TypeError:  # an unhashable value: the library stringifies it
            return super().labels(*labelvalues)  # type: ignore[misc]

    def _metric_init(self) -> None:
        super()._metric_init()  # type: ignore[misc]
        for attribute in ("_value", "_sum"):  # counter and gauge value; histogram sum
            if hasattr(self, attribute):
                setattr(self, attribute, _unlocked(getattr(self, attribute)))
        if hasattr(self, "_buckets"):
            self._buckets = [_unlocked(bucket) for bucket in self._buckets]  # type: ignore[has-type]

    def remove(self, *labelvalues: Any) -> None:
        self._cached_children.clear()
        super().remove(*labelvalues)  # type: ignore[misc]

    def clear(self) -> None:
        self._cached_children.clear()
        super().clear()  # type: ignore[misc]


class FastCounter(_ChildCache, Counter):
    pass


class FastGauge(_ChildCache, Gauge):
    pass


class FastHistogram(_ChildCache, Histogram):  # type: ignore[misc]  # _buckets: an untyped library attribute
    """A histogram whose ``observe`` finds the bucket by bisection instead of a Python loop over up to 35
    bounds (the library's loop is most of an observation's cost)."""

    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        buckets = getattr(self, "_buckets", None)
        if buckets is None or exemplar is not None or amount != amount:
            # A labelled parent (the library raises its error), an exemplar, or NaN (counted in no bucket).
            super().observe(amount, exemplar)
            return
        self._sum.inc(amount)
        buckets[bisect_left(self._upper_bounds, amount)].inc(1)


class _TwinChild:
    """One labelled child of each name of a :class:`DualNameMetric`; every write goes to both."""

    __slots__ = ("_current", "_legacy")

    def __init__(self, current: Any, legacy: Any) -> None:
        self._current = current
        self._legacy = legacy

    def inc(self, amount: float = 1.0) -> None:
        self._current.inc(amount)
        self._legacy.inc(amount)

    def dec(self, amount: float = 1.0) -> None:
        self._current.dec(amount)
        self._legacy.dec(amount)

    def set(self, value: float) -> None:
        self._current.set(value)
        self._legacy.set(value)

    def observe(self, amount: float) -> None:
        self._current.observe(amount)
        self._legacy.observe(amount)


class DualNameMetric(_TwinChild):
    """One metric family under two names, as llm-d-router v0.10 dual-emits: its ``llm_d_epp_*`` name with
    v0.10's labels and the GIE v1.1 name with v1.1's labels (a subset, possibly renamed). ``labels`` takes
    the v0.10 label values; the v1.1 child gets the values of its own labels. Counters, gauges and
    histograms alike (``metric_class`` is one of this module's fast classes); an unlabelled family is
    written directly, as its own twin child."""

    def __init__(
        self,
        metric_class: type[Any],
        current_name: str,
        legacy_name: str,
        documentation: str,
        labelnames: tuple[str, ...] = (),
        *,
        legacy_labelnames: tuple[str, ...] | None = None,
        renamed: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        legacy_labels = labelnames if legacy_labelnames is None else legacy_labelnames
        renamed = renamed or {}
        self.labelnames = labelnames
        self.current = metric_class(current_name, documentation, labelnames, **kwargs)
        self.legacy = metric_class(legacy_name, documentation, legacy_labels, **kwargs)
        self._legacy_positions = tuple(labelnames.index(renamed.get(name, name)) for name in legacy_labels)
        self._children: dict[tuple[Any, ...], _TwinChild] = {}
        super().__init__(self.current, self.legacy)

    def labels(self, *labelvalues: Any, **labelkwargs: Any) -> _TwinChild:
        if labelkwargs:
            if labelvalues or set(labelkwargs) != set(self.labelnames):
                raise ValueError(f"missing label values; expected {self.labelnames}")
            labelvalues = tuple(labelkwargs[name] for name in self.labelnames)
        try:
            return self._children[labelvalues]
        except KeyError:
            current = self.current.labels(*labelvalues)  # raises prometheus-client's errors
            legacy = self.legacy.labels(*(labelvalues[position] for position in self._legacy_positions))
            child = self._children[labelvalues] = _TwinChild(current, legacy)
            return child

    def remove(self, *labelvalues: Any) -> None:
        self._children.pop(labelvalues, None)
        self.current.remove(*labelvalues)
        legacy_values = tuple(labelvalues[position] for position in self._legacy_positions)
        if len(legacy_values) == len(labelvalues):  # a shared legacy child (fewer labels) stays
            self.legacy.remove(*legacy_values)
