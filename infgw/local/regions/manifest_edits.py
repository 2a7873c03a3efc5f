"""A copy of rendered manifests with objects of one kind edited, as a changed stack would render them:
what the scenarios and tests use to show that the tier follows the rendered objects."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

EditObject = Callable[[dict[str, Any]], None]


def edited_copy(source: Path, target: Path, kind: str, edit: EditObject) -> Path:
    """Copy ``source`` (every cluster folder and the plan JSON) to ``target``; pass each ``kind`` object
    of every cluster to ``edit``, which changes it in place."""
    shutil.copytree(source, target)
    for path in target.glob("*/*.yaml"):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and document.get("kind") == kind:
            edit(document)
            path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return target
