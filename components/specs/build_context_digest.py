"""A content digest of a Docker build context, for image tags that change exactly when the image would.

The main context and any named contexts (Dockerfile ``COPY --from=<name>``) are hashed together. Files are
read in path order; `.dockerignore`'s patterns (the simple forms this repository uses: `**/name`,
`name`, `*.suffix`) are honoured, so a cache or a benchmark result under the context does not move the tag.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Mapping
from pathlib import Path


def _ignore_patterns(context: Path) -> list[str]:
    ignore_file = context / ".dockerignore"
    if not ignore_file.exists():
        return []
    lines = ignore_file.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(relative: str, patterns: list[str]) -> bool:
    parts = relative.split("/")
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
        if pattern.startswith("**/") and any(fnmatch.fnmatch(part, bare) for part in parts):
            return True
        if any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            return True
    return False


def build_context_digest(context: Path, named: Mapping[str, Path] | None = None) -> str:
    """sha256 over every file's relative path and bytes (the Dockerfile is inside the context here), then
    each named context's name and files, in name order."""
    digest = hashlib.sha256()
    _update(digest, context)
    for name, directory in sorted((named or {}).items()):
        digest.update(b"\0named\0" + name.encode() + b"\0")
        _update(digest, directory)
    return digest.hexdigest()


def _update(digest: hashlib._Hash, context: Path) -> None:
    patterns = _ignore_patterns(context)
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        relative = path.relative_to(context).as_posix()
        if _ignored(relative, patterns):
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
