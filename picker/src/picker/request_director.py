"""The contract between the protocol layer and the request lifecycle (admission + scheduling).

``picker.server`` depends only on this module; ``picker.director.Director`` implements it. Routing a request
returns a :class:`RoutedRequest`, which the ext_proc stream owns: it carries the response-side calls and
gives back what routing took (in-flight counts, flow-control capacity) when the stream leaves its context,
exactly once, whatever happened. A request that was not routed (an error, a cancelled wait) holds nothing.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Protocol, Self

from picker.framework.types import Endpoint, InferenceRequest, ResponseUsage, RoutingDecision


class RoutedRequest(abc.ABC):
    """One routed request, from the routing decision to the end of its ext_proc stream.

    A context manager: leaving it releases the request's share of the pool once; leaving again (or a
    second owner) releases nothing. Response-side calls come at most once each, before the release.
    """

    __slots__ = ("_released", "decision")

    def __init__(self, decision: RoutingDecision) -> None:
        self.decision = decision
        self._released = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()

    def release(self) -> None:
        """Give back what routing took, the first time only; the stream's exit calls it."""
        if not self._released:
            self._released = True
            self._release()

    @abc.abstractmethod
    def response_started(self, status: int, streaming: bool) -> None:
        """The model server answered; ``status`` other than 200 counts as a model-server error."""

    @abc.abstractmethod
    def response_complete(self, served: Endpoint | None, usage: ResponseUsage, response_bytes: int) -> None:
        """The response finished; ``served`` is the endpoint Envoy reports it used, when it says."""

    @abc.abstractmethod
    def _release(self) -> None:
        """Give back what routing took; called once, by :meth:`release`."""


class RequestDirector(Protocol):
    """The request lifecycle, driven by the ext_proc stream."""

    async def route(self, request: InferenceRequest) -> RoutedRequest:
        """Resolve the objective's priority, admit, wait in flow control if configured, schedule.

        Raises:
            PickerError: for every client-visible failure (400/429/503/500 by its code).
            asyncio.CancelledError: when the client disconnected; any queue entry is removed first.
        """
        ...

    def pick_any(self, request: InferenceRequest) -> RoutingDecision:
        """Body-less requests (GET): a random ready endpoint, no admission, nothing held.

        Raises:
            PickerError: INTERNAL when no endpoint is ready.
        """
        ...
