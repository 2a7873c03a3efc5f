"""Reading a /metrics body the way a scraper does (prometheus_client's own parser)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)], for every sample in the exposition."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def value(text: str, name: str, **labels: str) -> float:
    """The one sample of ``name`` whose labels include ``labels``."""
    matches = [v for sample_labels, v in samples(text).get(name, []) if labels.items() <= sample_labels.items()]
    if len(matches) != 1:
        raise AssertionError(f"expected one {name}{labels} sample, found {len(matches)}")
    return matches[0]
