"""Go-style durations (``50ms``, ``2s``, ``1m30s``) as the EPP spells them, or plain seconds."""

from __future__ import annotations

import re

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def parse_duration_s(value: object) -> float:
    """Seconds from ``"200ms"``, ``"1m30s"``, ``"0"`` or a number of seconds. Raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a string like '200ms' or a number of seconds")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("a duration must be a string like '200ms' or a number of seconds")
    text = value.strip()
    if text == "0":
        return 0.0
    position, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(f"{value!r} is not a duration; write e.g. '50ms', '2s' or '1m30s'")
    return total
