"""The few changes a planned container's command line needs to run on this machine, in one place:
a flag's value replaced (ports: every process shares 127.0.0.1, so each gets a free port instead of its
planned one) and paths of mounted volumes moved into the gateway's work folder."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path


def with_flag(args: Sequence[str], flag: str, value: str) -> list[str]:
    """`args` with `flag`'s value set to `value` (`--flag v` and `--flag=v` forms); appended if absent."""
    result: list[str] = []
    replaced = False
    skip = False
    for index, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == flag and index + 1 < len(args):
            result += [flag, value]
            replaced, skip = True, True
        elif arg.startswith(flag + "="):
            result.append(f"{flag}={value}")
            replaced = True
        else:
            result.append(arg)
    return result if replaced else [*result, flag, value]


def materialise_mounts(
    args: Sequence[str], files: Mapping[str, str], secret_dirs: Sequence[str], root: Path
) -> list[str]:
    """Write every mounted file under `root` (at its container path) and point `args` at the copies.

    ConfigMap files get their planned content; a file under a Secret mount (a token the cluster issues,
    e.g. the metrics reader's) gets a fresh random token, since the manifests never carry secret values.
    """
    moved: dict[str, str] = {}
    for path, text in files.items():
        local = root / path.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(text, encoding="utf-8")
        moved[path] = str(local)
    for arg in args:
        value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
        if any(value.startswith(directory + "/") for directory in secret_dirs) and value not in moved:
            local = root / value.lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(secrets.token_urlsafe(32), encoding="utf-8")
            moved[value] = str(local)
    result = []
    for arg in args:
        if arg in moved:
            result.append(moved[arg])
        elif arg.startswith("--") and "=" in arg and arg.split("=", 1)[1] in moved:
            flag, value = arg.split("=", 1)
            result.append(f"{flag}={moved[value]}")
        else:
            result.append(arg)
    return result


def override_planned_flags(args: Sequence[str], settings: Mapping[str, object]) -> tuple[list[str], dict[str, object]]:
    """`--sim-set` settings that name a flag the planned command line sets (``max_num_seqs`` for
    ``--max-num-seqs``) replace that flag's value, since the command line wins over a config file; the
    others are returned for the simulator's config file."""
    result = list(args)
    remaining: dict[str, object] = {}
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        planned = any(arg == flag or arg.startswith(flag + "=") for arg in result)
        if planned and isinstance(value, str | int | float) and not isinstance(value, bool):
            result = with_flag(result, flag, str(value))
        else:
            remaining[key] = value
    return result, remaining
