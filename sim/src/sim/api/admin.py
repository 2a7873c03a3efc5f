"""The non-generation routes: ``/health``, ``/metrics``, ``/v1/models`` and runtime LoRA load/unload."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from sim.api.json_body import read_model
from sim.api.schemas import LoadLoraAdapterRequest, UnloadLoraAdapterRequest
from sim.runtime import SimulatorRuntime


class AdminRoutes:
    def __init__(self, runtime: SimulatorRuntime) -> None:
        self._runtime = runtime

    async def health(self, request: web.Request) -> web.Response:
        # vLLM answers an empty 200; the body here names the replica so tests can see who answered.
        return web.json_response({"status": "ok", "replica": self._runtime.replica_name})

    async def metrics(self, request: web.Request) -> web.Response:
        response = web.Response(body=self._runtime.metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def models(self, request: web.Request) -> web.Response:
        runtime = self._runtime
        permission = {
            "id": "modelperm-sim",
            "object": "model_permission",
            "created": runtime.started_at,
            "allow_create_engine": False,
            "allow_sampling": True,
            "allow_logprobs": True,
            "allow_search_indices": False,
            "allow_view": True,
            "allow_fine_tuning": False,
            "organization": "*",
            "group": None,
            "is_blocking": False,
        }
        cards = [
            {
                "id": name,
                "object": "model",
                "created": runtime.started_at,
                "owned_by": "vllm",
                "root": runtime.config.model,
                "parent": None,
                "max_model_len": runtime.max_model_len,
                "permission": [permission],
            }
            for name in runtime.config.model_names
        ]
        cards.extend(
            {
                "id": adapter.name,
                "object": "model",
                "created": adapter.created,
                "owned_by": "vllm",
                "root": adapter.path or adapter.name,
                "parent": adapter.base_model_name,
                "max_model_len": None,
                "permission": [permission],
            }
            for adapter in runtime.adapters.all()
        )
        return web.json_response({"object": "list", "data": cards})

    async def load_lora_adapter(self, request: web.Request) -> web.Response:
        body = await read_model(request, LoadLoraAdapterRequest)
        self._runtime.adapters.load(body.lora_name, body.lora_path, body.base_model_name)
        return web.Response(text=f"Success: LoRA adapter '{body.lora_name}' added successfully.")

    async def unload_lora_adapter(self, request: web.Request) -> web.Response:
        body = await read_model(request, UnloadLoraAdapterRequest)
        self._runtime.adapters.unload(body.lora_name)
        return web.Response(text=f"Success: LoRA adapter '{body.lora_name}' removed successfully.")

    async def reset_prefix_cache(self, request: web.Request) -> web.Response:
        # vLLM's dev-mode route: drops every cached prefix (publishes AllBlocksCleared when events are on).
        self._runtime.reset_prefix_cache()
        return web.Response(status=200)
