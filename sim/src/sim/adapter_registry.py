"""Which LoRA adapters this replica serves, changed at runtime by load/unload (vLLM's runtime LoRA API)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sim.api.errors import ApiError


@dataclass(frozen=True, slots=True)
class RegisteredAdapter:
    name: str
    path: str | None
    base_model_name: str
    created: int


class AdapterRegistry:
    def __init__(
        self,
        base_model_name: str,
        reserved_names: list[str],
        wall_clock: Callable[[], float],
        enabled: bool = True,
    ) -> None:
        self._enabled = enabled
        self._base_model_name = base_model_name
        self._reserved = set(reserved_names)
        self._wall_clock = wall_clock
        self._adapters: dict[str, RegisteredAdapter] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._adapters

    def all(self) -> list[RegisteredAdapter]:
        return list(self._adapters.values())

    def load(self, name: str, path: str | None, base_model_name: str | None = None) -> RegisteredAdapter:
        if not self._enabled:
            raise ApiError.bad_request(
                "LoRA is not enabled on this server; start it with --enable-lora.", param="lora_name"
            )
        if name in self._adapters:
            raise ApiError.bad_request(
                f"The lora adapter '{name}' has already been loaded.", param="lora_name"
            )
        if name in self._reserved:
            raise ApiError.bad_request(
                f"The lora adapter name '{name}' is a served model name; choose another name.",
                param="lora_name",
            )
        adapter = RegisteredAdapter(
            name, path, base_model_name or self._base_model_name, int(self._wall_clock())
        )
        self._adapters[name] = adapter
        return adapter

    def unload(self, name: str) -> None:
        if name not in self._adapters:
            raise ApiError.not_found(f"The lora adapter '{name}' cannot be found.", param="lora_name")
        del self._adapters[name]
