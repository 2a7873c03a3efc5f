"""The Prometheus endpoint (``GET /metrics`` on --metrics-port) for the picker's registry, optionally
behind a static bearer token (the EPP authenticates through Kubernetes TokenReview instead)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from picker.server.grpc_server import PortBindError

logger = logging.getLogger(__name__)


class MetricsEndpoint:
    """An aiohttp server serving ``registry``; ``token_file`` set means every scrape needs that token.

    The token file is re-read per scrape so a rotated Secret takes effect without a restart. ``refresh``
    runs before each scrape is rendered (the worker supervisor collects its workers' metrics there).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        token_file: Path | None = None,
        refresh: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._registry = registry
        self._token_file = token_file
        self._refresh = refresh
        self._runner: web.AppRunner | None = None
        self.port = 0

    def _authorised(self, request: web.Request) -> web.Response | None:
        if self._token_file is None:
            return None
        try:
            expected = self._token_file.read_text().strip()
        except OSError as error:
            logger.error("cannot read the metrics token file %s: %s", self._token_file, error)
            return web.Response(status=500, text="metrics token file unreadable\n")
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented:
            return web.Response(
                status=401,
                text="bearer token required\n",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        if not expected or not hmac.compare_digest(presented.strip().encode(), expected.encode()):
            return web.Response(status=403, text="bearer token not accepted\n")
        return None

    async def _metrics(self, request: web.Request) -> web.Response:
        denied = self._authorised(request)
        if denied is not None:
            return denied
        if self._refresh is not None:
            await self._refresh()
        return web.Response(
            body=generate_latest(self._registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def start(self, host: str, port: int, flag: str = "--metrics-port") -> int:
        """Bind and serve; returns the bound port (``port`` 0 lets the OS choose). Raises PortBindError
        naming ``flag``."""
        application = web.Application()
        application.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as error:
            raise PortBindError(f"{flag}: cannot listen on {host}:{port}: {error}") from None
        # aiohttp exposes the bound sockets only through the server it started (an asyncio.Server, or
        # uvloop's, which does not subclass it).
        server = site._server
        sockets = getattr(server, "sockets", None)
        assert sockets, "aiohttp started no listening socket"
        self.port = int(sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
