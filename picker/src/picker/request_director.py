"""The contract between the protocol layer and the request lifecycle (admission + scheduling).

``picker.server`` depends only on this protocol; ``picker.director.Director`` implements it.
"""

from __future__ import annotations

from typing import Protocol

from picker.framework.types import Endpoint, InferenceRequest, ResponseUsage, RoutingDecision


class RequestDirector(Protocol):
    """One request's lifecycle, driven by the ext_proc stream.

    Calls for one request come in this order: ``route`` or ``pick_any`` (once), then, if it returned,
    ``on_response_headers`` and ``on_response_complete`` (each at most once; not at all if the
    client or upstream went away first). ``release`` is always called last, exactly once per
    ``route`` or ``pick_any`` call, whatever happened, so per-request state and in-flight accounting
    cannot leak.
    """

    async def route(self, request: InferenceRequest) -> RoutingDecision:
        """Resolve the objective's priority, admit, wait in flow control if configured, schedule.

        Raises:
            PickerError: for every client-visible failure (400/429/503/500 by its code).
            asyncio.CancelledError: when the client disconnected; any queue entry is removed first.
        """
        ...

    def pick_any(self, request: InferenceRequest) -> RoutingDecision:
        """Body-less requests (GET): a random ready endpoint, no admission. Raises PickerError(INTERNAL)."""
        ...

    def on_response_headers(self, request: InferenceRequest, status: int, streaming: bool) -> None:
        """The model server answered; ``status`` other than 200 counts as a model-server error."""
        ...

    def on_response_complete(
        self, request: InferenceRequest, served: Endpoint | None, usage: ResponseUsage, response_bytes: int
    ) -> None:
        """The response finished; ``served`` is the endpoint Envoy reports it used, when it says."""
        ...

    def release(self, request: InferenceRequest) -> None:
        """The stream for this request is closed; drop per-request state and in-flight counts."""
        ...
