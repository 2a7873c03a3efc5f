"""Serving until SIGTERM or SIGINT, for the picker process and the worker supervisor alike: start, wait
for a signal (or for a loop that must never end to end), then stop gracefully."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Collection
from typing import Protocol

logger = logging.getLogger(__name__)


class SignalledService(Protocol):
    async def start(self) -> None: ...

    async def stop(self, grace_s: float | None = None) -> None: ...

    def essential_tasks(self) -> Collection[asyncio.Task[None]]:
        """Background loops that never return on their own (discovery, election): one ending is a fault."""
        ...


def describe_error(error: BaseException | None) -> str:
    """The leaf errors of a (possibly nested) ExceptionGroup, as one line."""
    if error is None:
        return "no error reported"
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(describe_error(inner) for inner in error.exceptions)
    return f"{type(error).__name__}: {error}"


async def serve_until_signalled(
    service: SignalledService, grace_s: float, on_serving: Callable[[], None] | None = None
) -> None:
    """Start ``service`` (``on_serving`` runs then), serve until SIGTERM or SIGINT, then stop it.

    Raises:
        RuntimeError: an essential task ended (the service is stopped first).
    """
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop_requested.set)
    try:
        await service.start()
        if on_serving is not None:
            on_serving()
        signalled = asyncio.create_task(stop_requested.wait())
        essential = set(service.essential_tasks())
        try:
            await asyncio.wait({signalled, *essential}, return_when=asyncio.FIRST_COMPLETED)
            for task in essential:
                if task.done():
                    error = None if task.cancelled() else task.exception()
                    raise RuntimeError(
                        f"background task {task.get_name()} stopped: {describe_error(error)}"
                    ) from error
            logger.info("shutdown requested; draining open streams for up to %.1f s", grace_s)
        finally:
            signalled.cancel()
            await service.stop()
    finally:
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signal_number)
