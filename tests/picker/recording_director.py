"""A recording RequestDirector double: records every call, answers as configured."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from picker.errors import PickerError
from picker.framework.types import Endpoint, InferenceRequest, ResponseUsage, RoutingDecision
from picker.request_director import RoutedRequest


class RecordedRoute(RoutedRequest):
    """What RecordingDirector.route returns: records the response-side calls and the release."""

    def __init__(self, decision: RoutingDecision, calls: list[tuple[str, Any]], request: InferenceRequest) -> None:
        super().__init__(decision)
        self._calls = calls
        self._request = request

    def response_started(self, status: int, streaming: bool) -> None:
        self._calls.append(("response_started", (status, streaming)))

    def response_complete(self, served: Endpoint | None, usage: ResponseUsage, response_bytes: int) -> None:
        self._calls.append(("response_complete", (served, usage, response_bytes)))

    def _release(self) -> None:
        self._calls.append(("release", self._request))


@dataclass
class RecordingDirector:
    """A RequestDirector that records every call and answers as configured.

    ``route`` applies the model rewrite as the real director does (body["model"] = target_model),
    answers ``endpoints`` or raises ``route_error``; ``route_gate``, when set, makes ``route`` wait.
    """

    endpoints: tuple[Endpoint, ...] = (Endpoint(name="pod-a-rank-0", address="10.0.0.1", port=8000),)
    route_error: PickerError | None = None
    pick_any_error: PickerError | None = None
    route_gate: asyncio.Event | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def requests(self) -> list[InferenceRequest]:
        return [args for name, args in self.calls if name in ("route", "pick_any")]

    async def route(self, request: InferenceRequest) -> RoutedRequest:
        self.calls.append(("route", request))
        if self.route_gate is not None:
            try:
                await self.route_gate.wait()
            except asyncio.CancelledError:
                self.calls.append(("route_cancelled", request))
                raise
        if self.route_error is not None:
            raise self.route_error
        request.body["model"] = request.target_model
        return RecordedRoute(RoutingDecision(endpoints=self.endpoints, body=request.body), self.calls, request)

    def pick_any(self, request: InferenceRequest) -> RoutingDecision:
        self.calls.append(("pick_any", request))
        if self.pick_any_error is not None:
            raise self.pick_any_error
        return RoutingDecision(endpoints=self.endpoints[:1], body={})
