"""Google Cloud regions and their zones, so a stack's region/zone pair is checked before anything is created.

Facts from the public "Regions and zones" page. A region added by Google after this table was written is
reported as unknown; add it here (one line) rather than disabling the check.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from types import MappingProxyType

# Zone suffixes per region. Most regions have a, b, c; the exceptions are spelled out.
_ZONE_SUFFIXES: Mapping[str, str] = MappingProxyType(
    {
        "africa-south1": "abc",
        "asia-east1": "abc",
        "asia-east2": "abc",
        "asia-northeast1": "abc",
        "asia-northeast2": "abc",
        "asia-northeast3": "abc",
        "asia-south1": "abc",
        "asia-south2": "abc",
        "asia-southeast1": "abc",
        "asia-southeast2": "abc",
        "australia-southeast1": "abc",
        "australia-southeast2": "abc",
        "europe-central2": "abc",
        "europe-north1": "abc",
        "europe-north2": "abc",
        "europe-southwest1": "abc",
        "europe-west1": "bcd",
        "europe-west2": "abc",
        "europe-west3": "abc",
        "europe-west4": "abc",
        "europe-west6": "abc",
        "europe-west8": "abc",
        "europe-west9": "abc",
        "europe-west10": "abc",
        "europe-west12": "abc",
        "me-central1": "abc",
        "me-central2": "abc",
        "me-west1": "abc",
        "northamerica-northeast1": "abc",
        "northamerica-northeast2": "abc",
        "northamerica-south1": "abc",
        "southamerica-east1": "abc",
        "southamerica-west1": "abc",
        "us-central1": "abcf",
        "us-east1": "bcd",
        "us-east4": "abc",
        "us-east5": "abc",
        "us-south1": "abc",
        "us-west1": "abc",
        "us-west2": "abc",
        "us-west3": "abc",
        "us-west4": "abc",
    }
)


def is_known_region(region: str) -> bool:
    return region in _ZONE_SUFFIXES


def zones_of(region: str) -> tuple[str, ...]:
    """The zones of a known region, e.g. ('us-east4-a', 'us-east4-b', 'us-east4-c'); () when unknown."""
    return tuple(f"{region}-{suffix}" for suffix in _ZONE_SUFFIXES.get(region, ""))


def region_of_zone(zone: str) -> str:
    """The region a zone name belongs to by construction ('europe-west3-c' -> 'europe-west3')."""
    return zone.rsplit("-", 1)[0] if zone.count("-") >= 2 else ""


def closest_regions(region: str, limit: int = 3) -> list[str]:
    """Known regions spelled most like `region`, for 'did you mean' hints."""
    return difflib.get_close_matches(region, list(_ZONE_SUFFIXES), n=limit, cutoff=0.6)
