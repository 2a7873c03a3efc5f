"""The running regional gateway's control endpoint (127.0.0.1 only): region status as JSON, and faults.

``GET /regions`` -> the status rows; ``POST /regions/{region}/down?part=replicas|picker|health`` and
``.../up?part=...`` take a region's part down or bring it back while serving. Errors are OpenAI-style JSON.
"""

from __future__ import annotations

from aiohttp import ClientSession, web

from infgw.local.regions.gateway import RegionalGateway, RegionPart

CONTROL_HOST = "127.0.0.1"


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": status}},
        status=status,
    )


def control_app(gateway: RegionalGateway) -> web.Application:
    async def regions(_: web.Request) -> web.Response:
        async with ClientSession() as session:
            rows = await gateway.status(session)
        return web.json_response([row.model_dump() for row in rows])

    async def fault(request: web.Request) -> web.Response:
        name, action = request.match_info["region"], request.match_info["action"]
        try:
            part = RegionPart(request.query.get("part", RegionPart.REPLICAS.value))
        except ValueError:
            return _error(
                400, f"part {request.query.get('part')!r}: use one of {[p.value for p in RegionPart]}"
            )
        try:
            region = gateway.plan.region(name).region
        except KeyError as error:
            return _error(404, str(error.args[0]))
        await gateway.set_down(region, part, down=action == "down")
        return web.json_response({"region": region, "part": part.value, "action": action})

    app = web.Application()
    app.router.add_get("/regions", regions)
    app.router.add_post(r"/regions/{region}/{action:down|up}", fault)
    return app


class ControlServer:
    """``async with ControlServer(gateway) as server:`` listens at ``server.url``."""

    def __init__(self, gateway: RegionalGateway) -> None:
        self._runner = web.AppRunner(control_app(gateway))
        self.url = ""

    async def __aenter__(self) -> ControlServer:
        await self._runner.setup()
        site = web.TCPSite(self._runner, CONTROL_HOST, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{CONTROL_HOST}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._runner.cleanup()
