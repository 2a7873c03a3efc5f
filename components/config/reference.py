"""Generate the stack-key reference table of docs/configuration.md from the StackConfig models.

`python -m components.config.reference` rewrites the generated block; `--check` exits 1 when it is stale
(a test runs the check, so a new key cannot land undocumented).
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from components.config.loading import PROJECT_KEY
from components.config.stack import StackConfig

BEGIN = "<!-- BEGIN GENERATED: stack keys (python -m components.config.reference) -->"
END = "<!-- END GENERATED: stack keys -->"
DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


_PLAIN_TYPE_NAMES = MappingProxyType(
    {
        "str": "string",
        "int": "integer",
        "bool": "boolean",
        "float": "number",
        "SecretStr": "secret string",
        "Any": "any",
    }
)


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _type_name(annotation: Any) -> str:
    annotation = _strip_optional(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{value}`" for value in typing.get_args(annotation))
    if origin is list:
        return f"list of {_type_name(typing.get_args(annotation)[0])}"
    if origin is dict:
        return f"map of {_type_name(typing.get_args(annotation)[1])}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    name = getattr(annotation, "__name__", str(annotation))
    return _PLAIN_TYPE_NAMES.get(name, name)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        # Pydantic also allows factories taking the validated data; this schema's never do.
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "see below" if value.model_dump() else "`{}`"
        return f"`{value!r}`".replace("'", "") if value not in ({}, []) else f"`{value}`"
    if field.default is None or field.default is PydanticUndefined:
        return "unset"
    value = field.default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _nested_model(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model a field holds (directly, in a list, or as map values) and the key-path suffix for it."""
    annotation = _strip_optional(annotation)
    origin = typing.get_origin(annotation)
    if origin is list:
        inner, suffix = _nested_model(typing.get_args(annotation)[0])
        return inner, "[]" + suffix
    if origin is dict:
        inner, suffix = _nested_model(typing.get_args(annotation)[1])
        return inner, ".<name>" + suffix
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    return None, ""


def _rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str, str]]:
    for name, field in model.model_fields.items():
        key = field.alias or name
        if model is StackConfig and name == "project":
            yield PROJECT_KEY, "string", "**required**", field.description or ""
            continue
        path = f"{prefix}.{key}" if prefix else key
        nested, suffix = _nested_model(field.annotation)
        doc_lines = (nested.__doc__ or "").strip().splitlines() if nested is not None else []
        description = field.description or (doc_lines[0] if doc_lines else "")
        yield path, _type_name(field.annotation), _default(field), description.replace("|", "\\|")
        if nested is not None:
            yield from _rows(nested, path + suffix)


def reference_table() -> str:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    lines += [
        f"| `{key}` | {type_name} | {default} | {meaning} |"
        for key, type_name, default, meaning in _rows(StackConfig, "")
    ]
    return "\n".join(lines)


def render_document(text: str) -> str:
    """`text` with the generated block replaced by the current table."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"{DOC} lacks the generated-block markers {BEGIN!r} ... {END!r}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{reference_table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    current = DOC.read_text(encoding="utf-8")
    wanted = render_document(current)
    if "--check" in argv:
        if current != wanted:
            print(f"{DOC} is stale; run: .venv/bin/python -m components.config.reference", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted, encoding="utf-8")
    print(f"wrote the stack-key table of {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
