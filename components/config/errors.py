"""The one error of a bad stack config: every problem, one line each, and the exit code it stops with."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NoReturn

# Exit status of `pulumi up` (the program) and `infgw plan` when the stack config is invalid.
CONFIG_ERROR_EXIT_CODE = 2


@dataclass(frozen=True, slots=True, order=True)
class ConfigProblem:
    """One thing wrong with the stack config: the key path as users write it, and what to do."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(Exception):
    """Every problem found in one stack config; str() is one line per problem."""

    def __init__(self, problems: Iterable[ConfigProblem], source: str = "") -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(dict.fromkeys(problems))
        self.source = source
        super().__init__(self.report())

    def report(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


def exit_on_config_error(error: ConfigError) -> NoReturn:
    """Print one line per problem to stderr and exit 2: the contract for bad config, no traceback."""
    for problem in error.problems:
        print(problem, file=sys.stderr)
    raise SystemExit(CONFIG_ERROR_EXIT_CODE)
