"""The shipped scheduling profiles, as EndpointPickerConfig YAML files inside the package.

Each file is the one definition of its profile: ``picker.config.defaults`` loads it, the Pulumi stack
mounts its text unchanged as the picker's ConfigMap (``services.pools[].picker.profile``), and the local
gateway and the benchmarks run that ConfigMap. Read them with :func:`profile_text`.
"""

from __future__ import annotations

from importlib import resources

# `default`: the EPP's default profile (GIE v1.1 chart). `recommended`: this project's. `precise`: the
# recommended one with prefix affinity from the model servers' KV events. `llm-d-default`: llm-d's guide
# default on llm-d-router v0.10 ("sticky until saturated").
PROFILE_NAMES = ("default", "recommended", "precise", "llm-d-default")


class UnknownProfileError(ValueError):
    """A profile name that is not shipped."""


def profile_text(name: str) -> str:
    """The YAML text of a shipped profile, comments included."""
    if name not in PROFILE_NAMES:
        raise UnknownProfileError(f"unknown picker profile {name!r}; shipped: {', '.join(PROFILE_NAMES)}")
    return resources.files(__name__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
