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

__all__ = ["FastCounter", "FastGauge", "FastHistogram"]


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
