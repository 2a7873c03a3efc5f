"""GKE version strings: parsing, ordering, and the minimum each gateway topology needs. One module for the
stack config's validation (components) and the policy pack (which must run on its own, so it lives here).

Minimums from the GKE docs: the multi-cluster Inference Gateway needs 1.34.1-gke.1127000;
the single-cluster Inference Gateway needs 1.32.3.
"""

from __future__ import annotations

import re

MULTI_CLUSTER_MIN_VERSION = "1.34.1-gke.1127000"
SINGLE_CLUSTER_MIN_VERSION = "1.32.3"

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:-gke\.(\d+))?$")


def parse_gke_version(version: str) -> tuple[int, int, int, int] | None:
    """(major, minor, patch, gke build) for '1.34.1-gke.1127000'; missing parts count as 0; None if malformed."""
    match = _VERSION.match(version.strip())
    if match is None:
        return None
    major, minor, patch, build = match.groups()
    return int(major), int(minor), int(patch or 0), int(build or 0)


def version_problem(version: str, minimum: str, topology: str) -> str | None:
    """Why `version` cannot run the gateway for `topology`, or None when it can."""
    parsed = parse_gke_version(version)
    if parsed is None:
        return f"{version!r} is not a GKE version; use MAJOR.MINOR.PATCH-gke.N such as {MULTI_CLUSTER_MIN_VERSION}"
    required = parse_gke_version(minimum)
    if required is not None and parsed < required:
        return f"{version} is below {minimum}, the minimum for the {topology} Inference Gateway; set gkeVersion: {minimum} or later"
    return None


def gke_minor_version(version: str) -> str:
    """'1.34.1-gke.1127000' -> '1.34', the form a cluster in a release channel is created with."""
    parsed = parse_gke_version(version)
    if parsed is None:
        raise ValueError(f"{version!r} is not a GKE version")
    return f"{parsed[0]}.{parsed[1]}"


def is_minor_only(version: str) -> bool:
    """'1.34': GKE takes the release channel's latest patch of that minor."""
    return re.fullmatch(r"\d+\.\d+", version.strip()) is not None
