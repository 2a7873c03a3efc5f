"""Command-line edits shared by everything that starts the gateway's programs."""

from __future__ import annotations

from collections.abc import Sequence


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


def with_flags(args: Sequence[str], values: dict[str, str]) -> list[str]:
    """:func:`with_flag` for each flag of ``values``, in order."""
    result = list(args)
    for flag, value in values.items():
        result = with_flag(result, flag, value)
    return result


def without_flags(args: Sequence[str], flags: Sequence[str]) -> list[str]:
    """`args` without each of `flags` and its value (`--flag v` and `--flag=v` forms)."""
    result: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in flags:
            skip = True
        elif not any(arg.startswith(flag + "=") for flag in flags):
            result.append(arg)
    return result
