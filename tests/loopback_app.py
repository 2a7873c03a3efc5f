"""An aiohttp application served on 127.0.0.1 at a free port, for tests that need a real HTTP peer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web


@contextlib.asynccontextmanager
async def serving_on_loopback(app: web.Application) -> AsyncIterator[int]:
    """Serve ``app`` on 127.0.0.1 until the block ends; yields the port it listens on."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()
