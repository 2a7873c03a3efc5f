"""The picker's error vocabulary and its one mapping to HTTP statuses.

Every failure that reaches a client is a :class:`PickerError` with an :class:`ErrorCode`. The code is a
low-cardinality label for metrics (the EPP's ``error_code`` values); the message is the detail. Only
this module decides which HTTP status a code becomes.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """Error classes, spelled as the EPP spells its ``error_code`` metric label."""

    BAD_REQUEST = "BadRequest"
    RESOURCE_EXHAUSTED = "InferencePoolResourceExhausted"
    SERVICE_UNAVAILABLE = "ServiceUnavailable"
    INTERNAL = "Internal"
    BAD_CONFIGURATION = "BadConfiguration"
    MODEL_SERVER_ERROR = "ModelServerError"


HTTP_STATUS_BY_CODE: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.BAD_CONFIGURATION: 404,
    ErrorCode.RESOURCE_EXHAUSTED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.MODEL_SERVER_ERROR: 502,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
}

# OpenAI error "type" per status family, so SDK clients raise their usual exception classes.
_OPENAI_TYPE_BY_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "internal_server_error",
    502: "bad_gateway_error",
    503: "service_unavailable_error",
}


class PickerError(Exception):
    """A request-scoped failure with a wire status. Raising it never stops the server."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS_BY_CODE[self.code]

    def openai_body(self) -> dict[str, object]:
        """The OpenAI-style JSON error body sent in the ImmediateResponse."""
        status = self.http_status
        return {
            "error": {
                "message": f"inference gateway: {self.code.value} - {self.message}",
                "type": _OPENAI_TYPE_BY_STATUS.get(status, "api_error"),
                "param": None,
                "code": status,
            }
        }
