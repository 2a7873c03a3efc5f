"""The named build contexts a Dockerfile copies from, checked against the command its header documents."""

from __future__ import annotations

import re
from pathlib import Path


def dockerfile_named_contexts(dockerfile: Path) -> dict[str, str]:
    """name -> directory of the named contexts a Dockerfile copies from (stages excluded), as its header's
    `--build-context name=dir` command passes them; every copied path must exist in that directory."""
    text = dockerfile.read_text(encoding="utf-8")
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", text, flags=re.MULTILINE))
    documented = dict(re.findall(r"--build-context (\S+)=(\S+)", text))
    named: dict[str, str] = {}
    for name, copied in re.findall(r"^COPY --from=(\S+) (\S+) ", text, flags=re.MULTILINE):
        if name in stages:
            continue
        assert name in documented, f"{dockerfile}: COPY --from={name} without a documented --build-context"
        assert (dockerfile.parents[1] / documented[name] / copied).exists(), f"{dockerfile}: {copied}"
        named[name] = documented[name]
    return named
