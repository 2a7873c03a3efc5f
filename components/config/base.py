"""What every stack-config model shares: camelCase keys, unknown keys refused, frozen values, and one way
to report several problems at once, each at its own key path."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

# One problem: where (key path relative to the model that raises it), and what to do.
KeyIssue = tuple[tuple[str | int, ...], str]


class ConfigModel(BaseModel):
    """camelCase keys in YAML, snake_case in Python; unknown keys are errors (typos never pass silently)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


def issue(message: str) -> PydanticCustomError:
    """A validator's error whose message is shown as written (`stack_config` type, no pydantic prefix)."""
    return PydanticCustomError("stack_config", "{message}", {"message": message})


def fail(title: str, issues: list[KeyIssue], value: Any) -> ValidationError:
    """One ValidationError carrying every issue at its own key path (pydantic nests it under the parent)."""
    return ValidationError.from_exception_data(
        title, [InitErrorDetails(type=issue(message), loc=loc, input=value) for loc, message in issues]
    )
