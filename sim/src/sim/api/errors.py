"""The simulator's one mapping from failures to HTTP: vLLM's error body ``{"error": {...}}`` and status."""

from __future__ import annotations

import json

from aiohttp import web

# vLLM's ``type`` strings per status; OpenAI SDKs pick their exception class from the status.
ERROR_TYPE_BY_STATUS: dict[int, str] = {
    400: "BadRequestError",
    401: "AuthenticationError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    413: "BadRequestError",
    415: "UnsupportedMediaTypeError",
    429: "RateLimitError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}


class ApiError(Exception):
    """A request-scoped failure with its HTTP status.

    Handlers raise it; the middleware in ``sim.api.app`` turns it (and aiohttp's own HTTP errors, and
    anything unexpected as a 500) into the JSON body OpenAI clients parse. Raising it never stops the server.
    """

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param

    @classmethod
    def bad_request(cls, message: str, param: str | None = None) -> ApiError:
        return cls(400, message, param)

    @classmethod
    def not_found(cls, message: str, param: str | None = None) -> ApiError:
        return cls(404, message, param)

    @classmethod
    def unknown_model(cls, model: str) -> ApiError:
        return cls(404, f"The model `{model}` does not exist.", "model")

    def body(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": ERROR_TYPE_BY_STATUS.get(
                    self.status, "InternalServerError" if self.status >= 500 else "BadRequestError"
                ),
                "param": self.param,
                "code": self.status,
            }
        }

    def response(self) -> web.Response:
        return web.Response(status=self.status, text=json.dumps(self.body()), content_type="application/json")
