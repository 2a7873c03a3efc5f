"""Builds the aiohttp application for one replica: routes, the replica header and the error mapping."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from sim.api.admin import AdminRoutes
from sim.api.errors import ApiError
from sim.api.generation import GenerationRoutes
from sim.api.tokenization import TokenizationRoutes
from sim.runtime import SimulatorRuntime

log = logging.getLogger(__name__)

REPLICA_HEADER = "x-sim-replica"
RUNTIME_KEY: web.AppKey[SimulatorRuntime] = web.AppKey("sim_runtime", SimulatorRuntime)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as err:
        return err.response()
    except web.HTTPException as err:
        if err.status < 400:
            raise
        message = err.text if err.status != 404 else f"No route for {request.method} {request.path}."
        return ApiError(err.status, message or err.reason).response()
    except ConnectionResetError:
        raise  # the client is gone; there is nobody to answer
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return ApiError(500, "Internal server error in the simulator; see its log.").response()


def build_app(runtime: SimulatorRuntime) -> web.Application:
    app = web.Application(
        middlewares=[_errors_as_json], client_max_size=runtime.config.max_request_body_bytes
    )
    app[RUNTIME_KEY] = runtime
    generation = GenerationRoutes(runtime)
    tokenization = TokenizationRoutes(runtime)
    admin = AdminRoutes(runtime)
    app.router.add_post("/v1/completions", generation.completions)
    app.router.add_post("/v1/chat/completions", generation.chat_completions)
    app.router.add_post("/v1/completions/render", tokenization.render_completion)
    app.router.add_post("/v1/chat/completions/render", tokenization.render_chat)
    app.router.add_post("/tokenize", tokenization.tokenize)
    app.router.add_post("/detokenize", tokenization.detokenize)
    app.router.add_get("/v1/models", admin.models)
    app.router.add_get("/health", admin.health)
    app.router.add_get("/metrics", admin.metrics)
    app.router.add_post("/v1/load_lora_adapter", admin.load_lora_adapter)
    app.router.add_post("/v1/unload_lora_adapter", admin.unload_lora_adapter)
    app.router.add_post("/reset_prefix_cache", admin.reset_prefix_cache)

    async def add_replica_header(request: web.Request, response: web.StreamResponse) -> None:
        response.headers[REPLICA_HEADER] = runtime.replica_name

    async def start_engine(app: web.Application) -> None:
        runtime.start()

    async def stop_engine(app: web.Application) -> None:
        await runtime.stop()

    app.on_response_prepare.append(add_replica_header)
    app.on_startup.append(start_engine)
    app.on_cleanup.append(stop_engine)
    return app
