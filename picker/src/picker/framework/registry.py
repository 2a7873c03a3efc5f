"""Plugin registry: kebab-case plugin type -> factory(name, parameters, context).

Factories validate their own parameters (pydantic) and raise ``pydantic.ValidationError`` on bad
ones; the config loader turns that into an indexed path such as ``plugins[2].parameters.blockSize``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from picker.framework.context import PluginContext
from picker.framework.interfaces import Plugin

PluginFactory = Callable[[str, Mapping[str, Any], PluginContext], Plugin]


class PluginParameters(BaseModel):
    """Base for plugin parameter models: camelCase keys as in the EPP, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class UnknownPluginTypeError(KeyError):
    """Raised for a plugin type nobody registered."""


class PluginRegistry:
    """A plain map from plugin type to factory. One instance per composition root (no global registry)."""

    def __init__(self) -> None:
        self._factories: dict[str, PluginFactory] = {}

    def register(self, plugin_type: str, factory: PluginFactory) -> None:
        if plugin_type in self._factories:
            raise ValueError(f"plugin type {plugin_type!r} is already registered")
        self._factories[plugin_type] = factory

    def types(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, plugin_type: object) -> bool:
        return plugin_type in self._factories

    def create(
        self, plugin_type: str, name: str, parameters: Mapping[str, Any], context: PluginContext
    ) -> Plugin:
        try:
            factory = self._factories[plugin_type]
        except KeyError:
            raise UnknownPluginTypeError(plugin_type) from None
        return factory(name, parameters, context)
