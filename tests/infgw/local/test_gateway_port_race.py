"""A child losing the race for a port chosen free a moment earlier: the gateway starts again with new ports."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import infgw.local.gateway as gateway_module
from infgw.launch.ports import free_port
from infgw.local.command import load_local_plan
from infgw.local.gateway import LocalGateway
from infgw.local.gateway_options import GatewayOptions

pytestmark = pytest.mark.integration


async def test_a_port_taken_before_its_child_binds_it_is_retried_with_new_ports(
    two_pool_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = load_local_plan("two-pool", two_pool_project, tmp_path / "manifests", replicas=1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        handed_out: list[int] = []

        def first_port_already_taken(host: str = "127.0.0.1") -> int:
            port = taken if not handed_out else free_port(host)
            handed_out.append(port)
            return port

        monkeypatch.setattr(gateway_module, "free_port", first_port_already_taken)
        async with LocalGateway(plan, GatewayOptions(ready_timeout_s=60), tmp_path) as gateway:
            assert gateway.url
            assert taken not in {p.grpc_port for p in gateway.pickers.values()}
            assert all(not r.url.endswith(f":{taken}") for r in gateway.replicas)
    assert handed_out.count(taken) == 1
