"""Reading a JSON request body into a pydantic model, with vLLM's status codes for each way it can fail."""

from __future__ import annotations

import json
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from sim.api.errors import ApiError

ModelT = TypeVar("ModelT", bound=BaseModel)


async def read_model(request: web.Request, model: type[ModelT]) -> ModelT:
    if request.content_type != "application/json":
        raise ApiError(
            415,
            f"Unsupported Media Type: Only 'application/json' is allowed (got {request.content_type!r}).",
        )
    raw = await request.read()  # handles chunked bodies; aiohttp enforces client_max_size (413)
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ApiError.bad_request(f"The request body is not valid JSON: {err}") from err
    if not isinstance(body, dict):
        raise ApiError.bad_request(f"The request body must be a JSON object, got {type(body).__name__}.")
    try:
        return model.model_validate(body)
    except ValidationError as err:
        first = err.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        more = f" (and {err.error_count() - 1} more problems)" if err.error_count() > 1 else ""
        param = str(first["loc"][0]) if first["loc"] else None
        raise ApiError.bad_request(f"{location}: {first['msg']}{more}", param=param) from err
