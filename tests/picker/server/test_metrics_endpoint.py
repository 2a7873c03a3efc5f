"""MetricsEndpoint: a port it cannot bind is a PortBindError naming the flag, and nothing is left bound."""

from __future__ import annotations

import socket

import pytest
from picker.server.grpc_server import PortBindError
from picker.server.metrics_endpoint import MetricsEndpoint
from prometheus_client import CollectorRegistry


async def test_a_taken_port_is_refused_naming_the_flag() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        endpoint = MetricsEndpoint(CollectorRegistry())
        with pytest.raises(PortBindError, match=rf"^--metrics-port: cannot listen on 127.0.0.1:{port}: "):
            await endpoint.start("127.0.0.1", port)
        await endpoint.stop()
    # The port is free again once the owner let go: the failed start left nothing listening on it.
    freed = MetricsEndpoint(CollectorRegistry())
    assert await freed.start("127.0.0.1", port) == port
    await freed.stop()
