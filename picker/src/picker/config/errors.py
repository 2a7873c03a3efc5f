"""The one error type for configuration problems, carrying the indexed path of every offending key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem: where (``plugins[2].parameters.blockSize``), what, and how to fix it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(ValueError):
    """Raised at startup, before anything is created, for any invalid picker configuration."""

    def __init__(self, issues: Sequence[ConfigIssue], source: str = "EndpointPickerConfig") -> None:
        self.issues = tuple(issues)
        self.source = source
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(f"invalid {source}:\n{lines}")


def format_path(location: Sequence[str | int], prefix: str = "") -> str:
    """``('plugins', 2, 'parameters', 'blockSize')`` -> ``plugins[2].parameters.blockSize``."""
    path = prefix
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def issues_from_validation_error(error: ValidationError, prefix: str = "") -> list[ConfigIssue]:
    """Translate pydantic's errors into path + actionable message pairs."""
    issues: list[ConfigIssue] = []
    for detail in error.errors():
        location = [
            part for part in detail["loc"] if not (isinstance(part, str) and part.startswith("function-"))
        ]
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            message = "unknown key; remove it or fix its spelling"
        elif detail["type"] == "missing":
            message = "required key is missing"
        elif "input" in detail and not isinstance(detail["input"], dict | list):
            message = f"{message} (got {detail['input']!r})"
        issues.append(ConfigIssue(format_path(location, prefix), message))
    return issues
