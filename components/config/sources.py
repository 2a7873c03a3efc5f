"""Where raw stack config comes from: a `Pulumi.<stack>.yaml` file (offline plan, tests) or the Pulumi engine.

Both produce the same `RawStackConfig` (full `namespace:key` names, secret keys marked), so one validator
serves `pulumi up` and `make plan`. Secret values read from a stack file are never decrypted here: they
become the SECRET_PLACEHOLDER text and stay marked secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT_FILE = "Pulumi.yaml"
SECRET_PLACEHOLDER = "[secret]"


class StackFileError(Exception):
    """A stack or project file that cannot be read at all (missing, not YAML, duplicate keys)."""


@dataclass(frozen=True)
class RawStackConfig:
    """Config values by full key ('gke-inference-gateway:regions', 'gcp:project'), before validation."""

    project: str
    values: Mapping[str, Any]
    secret_keys: frozenset[str] = frozenset()
    # Declared in Pulumi.yaml without a default, so Pulumi itself would refuse to run without them.
    required_keys: frozenset[str] = frozenset()
    source: str = "<memory>"
    stack: str = "dev"
    # Pulumi ESC environments the stack file imports; their values exist only in `pulumi preview/up`.
    environments: tuple[str, ...] = ()


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (plain PyYAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise StackFileError(
                    f"line {line}: duplicate key {key!r} (first at line {seen[key]}); keep one of them"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise StackFileError(f"{path}: not found") from error
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)
    except StackFileError as error:
        raise StackFileError(f"{path}: {error}") from error
    except yaml.YAMLError as error:
        raise StackFileError(f"{path}: not valid YAML: {error}") from error
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise StackFileError(f"{path}: expected a mapping at the top level, got {type(document).__name__}")
    return document


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` (default: cwd) holding Pulumi.yaml, as the pulumi CLI does."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / PROJECT_FILE).is_file():
            return candidate
    raise StackFileError(f"no {PROJECT_FILE} in {here} or above; run from the project directory")


def _redact_secure(value: Any) -> tuple[Any, bool]:
    """Replace every `{secure: ...}` leaf with SECRET_PLACEHOLDER; report whether any was found."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER, True
        found = False
        redacted = {}
        for key, item in value.items():
            redacted[key], item_found = _redact_secure(item)
            found = found or item_found
        return redacted, found
    if isinstance(value, list):
        pairs = [_redact_secure(item) for item in value]
        return [item for item, _ in pairs], any(found for _, found in pairs)
    return value, False


def _qualify(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def read_stack_file(stack_file: Path, project_dir: Path | None = None) -> RawStackConfig:
    """Stack file values merged over Pulumi.yaml's declared defaults, with secure values redacted."""
    project_dir = project_dir or stack_file.parent
    project_doc = _read_yaml(project_dir / PROJECT_FILE)
    project = str(project_doc.get("name") or "")
    if not project:
        raise StackFileError(f"{project_dir / PROJECT_FILE}: no project `name:`")

    values: dict[str, Any] = {}
    required: set[str] = set()
    for key, declaration in (project_doc.get("config") or {}).items():
        full_key = _qualify(project, str(key))
        if isinstance(declaration, dict) and (
            {"type", "description", "default", "value", "secret", "items"} >= set(declaration)
        ):
            if "value" in declaration:
                values[full_key] = declaration["value"]
            elif "default" in declaration:
                values[full_key] = declaration["default"]
            else:
                required.add(full_key)
        else:
            values[full_key] = declaration  # a plain project-wide value

    stack_doc = _read_yaml(stack_file)
    secret_keys: set[str] = set()
    for key, value in (stack_doc.get("config") or {}).items():
        full_key = _qualify(project, str(key))
        values[full_key], is_secret = _redact_secure(value)
        if is_secret:
            secret_keys.add(full_key)

    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")
    imported = stack_doc.get("environment") or []
    return RawStackConfig(
        environments=tuple(str(name) for name in (imported if isinstance(imported, list) else [imported])),
        project=project,
        values=values,
        secret_keys=frozenset(secret_keys),
        required_keys=frozenset(required),
        source=str(stack_file),
        stack=stack,
    )


def read_stack(stack: str, project_dir: Path | None = None) -> RawStackConfig:
    """Config of stack `stack` (Pulumi.<stack>.yaml next to Pulumi.yaml)."""
    project_dir = project_dir or find_project_dir()
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = sorted(
            p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in project_dir.glob("Pulumi.*.yaml")
        )
        raise StackFileError(
            f"{stack_file}: not found; known stacks: {', '.join(known) or 'none'} "
            f"(create one with `pulumi stack init {stack}`)"
        )
    return read_stack_file(stack_file, project_dir)


def read_engine_config(project: str, stack: str) -> RawStackConfig:
    """Config the Pulumi engine passed to this program (decrypted values; secret keys marked)."""
    from pulumi.runtime import config as runtime_config

    values: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    # The engine sends objects and lists as JSON text (what Config.get_object parses).
    for key, value in values.items():
        if isinstance(value, str) and value[:1] in "{[":
            try:
                values[key] = json.loads(value)
            except json.JSONDecodeError:
                pass  # left as text; validation names the key if text is wrong there
    env_secret_keys = set(runtime_config.get_config_secret_keys_env())
    secret_keys = frozenset(
        key for key in values if runtime_config.is_config_secret(key) or key in env_secret_keys
    )
    return RawStackConfig(
        project=project, values=values, secret_keys=secret_keys, source="pulumi engine", stack=stack
    )
