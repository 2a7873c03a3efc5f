"""Read-only access to resource inputs that tells "missing" from "unknown during preview": the analyzer's
unknown-checking proxy raising, or the engine's unknown sentinels, both become :class:`UnknownValue`,
which the rule adapter turns into "not applicable" rather than a violation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import proxy
from pulumi_policy.proxy import UnknownValueError

_UNKNOWN_SENTINELS = frozenset(
    {
        proxy.UNKNOWN_ARCHIVE_VALUE,
        proxy.UNKNOWN_ARRAY_VALUE,
        proxy.UNKNOWN_ASSET_VALUE,
        proxy.UNKNOWN_BOOLEAN_VALUE,
        proxy.UNKNOWN_NUMBER_VALUE,
        proxy.UNKNOWN_OBJECT_VALUE,
        proxy.UNKNOWN_STRING_VALUE,
    }
)


class UnknownValue(Exception):
    """A property a rule needs is computed and not known until the update runs."""

    def __init__(self, path: Sequence[str | int]) -> None:
        self.path = tuple(path)
        super().__init__(f"value at .{'.'.join(str(p) for p in self.path)} is not known during preview")


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in _UNKNOWN_SENTINELS


class Props:
    """A view of one resource's (camelCase) input properties.

    ``get`` returns ``None`` when any key along the path is absent or null, and raises
    :class:`UnknownValue` when a value along the path is unknown. Mappings and lists come back wrapped
    so nested reads keep the same guarantees.
    """

    __slots__ = ("_path", "_value")

    def __init__(self, value: Any, path: tuple[str | int, ...] = ()) -> None:
        self._value = value
        self._path = path

    @property
    def raw(self) -> Any:
        return self._value

    def get(self, *keys: str | int) -> Any:
        """The plain value at ``keys`` (``Props`` for mappings, list of ``Props`` for lists), or None."""
        node: Any = self._value
        path = list(self._path)
        for key in keys:
            path.append(key)
            try:
                if isinstance(key, int):
                    if not isinstance(node, Sequence) or isinstance(node, str) or key >= len(node):
                        return None
                    node = node[key]
                else:
                    if not isinstance(node, Mapping) or key not in node:
                        return None
                    node = node[key]
            except UnknownValueError as err:
                raise UnknownValue(path) from err
            if is_unknown(node):
                raise UnknownValue(path)
            if node is None:
                return None
        return self._wrap(node, tuple(path))

    def mapping(self, *keys: str | int) -> Props | None:
        """The mapping at ``keys`` as ``Props``, or None when absent or not a mapping."""
        value = self.get(*keys)
        return value if isinstance(value, Props) and isinstance(value.raw, Mapping) else None

    def items(self, *keys: str | int) -> list[Props]:
        """The list at ``keys`` as ``Props`` items (empty when absent); each item is checked for unknowns."""
        value = self.get(*keys)
        if not isinstance(value, list):
            return []
        return [item if isinstance(item, Props) else Props(item, (*self._path, *keys, index))
                for index, item in enumerate(value)]

    def text(self, *keys: str | int) -> str | None:
        value = self.get(*keys)
        return value if isinstance(value, str) else None

    def number(self, *keys: str | int) -> float | None:
        """Numbers arrive as floats from the engine (8000 -> 8000.0); strings of digits are accepted too."""
        value = self.get(*keys)
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return None
        return None

    def flag(self, *keys: str | int) -> bool | None:
        value = self.get(*keys)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return None

    def strings(self, *keys: str | int) -> list[str]:
        """A list of strings (non-string items dropped); empty when absent."""
        return [item.raw for item in self.items(*keys) if isinstance(item.raw, str)]

    def string_map(self, *keys: str | int) -> dict[str, str]:
        """A ``{str: str}`` mapping such as labels or annotations; empty when absent."""
        mapping = self.mapping(*keys)
        if mapping is None:
            return {}
        result: dict[str, str] = {}
        for key in mapping:
            value = mapping.get(key)
            if isinstance(value, str):
                result[key] = value
        return result

    def __iter__(self) -> Iterator[str]:
        if isinstance(self._value, Mapping):
            return iter(list(self._value.keys()))
        return iter(())

    def __contains__(self, key: object) -> bool:
        if not isinstance(self._value, Mapping):
            return False
        try:
            return key in self._value
        except UnknownValueError:
            return True  # the key is there; only its value is unknown

    @staticmethod
    def _wrap(node: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(node, Mapping):
            return Props(node, path)
        if isinstance(node, Sequence) and not isinstance(node, str | bytes):
            return [Props(item, (*path, index)) if isinstance(item, Mapping) else _plain(item, (*path, index))
                    for index, item in enumerate(_iterate(node, path))]
        return node

    def __repr__(self) -> str:
        return f"Props({self._value!r})"


def _iterate(node: Sequence[Any], path: tuple[str | int, ...]) -> list[Any]:
    items: list[Any] = []
    for index in range(len(node)):
        try:
            items.append(node[index])
        except UnknownValueError as err:
            raise UnknownValue((*path, index)) from err
    return items


def _plain(item: Any, path: tuple[str | int, ...]) -> Any:
    if is_unknown(item):
        raise UnknownValue(path)
    return item


def as_int(value: float | None) -> int | None:
    """An integral number as int (ports, counts); None for absent or fractional values."""
    if value is None or value != int(value):
        return None
    return int(value)
