"""The fake Lease API speaks the API server's contract: resourceVersion on every write, 409 for a stale
update or an existing Lease, 404 for a missing one, Status bodies, JSON merge patch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import yaml

from infgw.local.lease_api import FakeLeaseApi

LEASES = "/apis/coordination.k8s.io/v1/namespaces/ns/leases"


def lease(name: str, holder: str, resource_version: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15},
    }


@pytest.fixture
async def api() -> AsyncIterator[tuple[FakeLeaseApi, aiohttp.ClientSession]]:
    async with FakeLeaseApi() as server, aiohttp.ClientSession(server.url) as session:
        yield server, session


async def test_missing_lease_is_404_with_a_status_body(api) -> None:
    _, session = api
    async with session.get(f"{LEASES}/absent") as response:
        body = await response.json()
    assert response.status == 404
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "NotFound", 404)


async def test_create_then_update_with_the_current_version_then_a_stale_one(api) -> None:
    server, session = api
    async with session.post(LEASES, json=lease("l", "a")) as response:
        created = await response.json()
    assert response.status == 201
    version = created["metadata"]["resourceVersion"]
    async with session.put(f"{LEASES}/l", json=lease("l", "b", version)) as response:
        updated = await response.json()
    assert response.status == 200
    assert updated["metadata"]["resourceVersion"] != version
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    async with session.put(f"{LEASES}/l", json=lease("l", "c", version)) as response:
        conflict = await response.json()
    assert (response.status, conflict["reason"]) == (409, "Conflict")
    stored = server.lease("ns", "l")
    assert stored is not None and stored["spec"]["holderIdentity"] == "b"


async def test_creating_an_existing_lease_is_409_already_exists(api) -> None:
    _, session = api
    async with session.post(LEASES, json=lease("l", "a")):
        pass
    async with session.post(LEASES, json=lease("l", "b")) as response:
        body = await response.json()
    assert (response.status, body["reason"]) == (409, "AlreadyExists")


async def test_bad_bodies_are_refused_with_4xx(api) -> None:
    _, session = api
    async with session.post(
        LEASES, data=b"{not json", headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
    async with session.post(LEASES, json={"kind": "Lease", "metadata": {}}) as response:
        assert response.status == 422
    async with session.post(LEASES, json=lease("l", "a")):
        pass
    async with session.put(f"{LEASES}/l", json=lease("other", "a")) as response:
        assert response.status == 400
    async with session.put(f"{LEASES}/absent", json=lease("absent", "a")) as response:
        assert response.status == 404


async def test_merge_patch_updates_and_checks_the_version(api) -> None:
    _, session = api
    async with session.post(LEASES, json=lease("l", "a")) as response:
        version = (await response.json())["metadata"]["resourceVersion"]
    merge = {"Content-Type": "application/merge-patch+json"}
    async with session.patch(
        f"{LEASES}/l", json={"spec": {"holderIdentity": "b"}}, headers=merge
    ) as response:
        patched = await response.json()
    assert patched["spec"] == {"holderIdentity": "b", "leaseDurationSeconds": 15}
    stale = {"metadata": {"resourceVersion": version}, "spec": {"holderIdentity": "c"}}
    async with session.patch(f"{LEASES}/l", json=stale, headers=merge) as response:
        assert response.status == 409


async def test_list_returns_the_namespace_leases(api) -> None:
    _, session = api
    async with session.post(LEASES, json=lease("l", "a")):
        pass
    async with session.get(LEASES) as response:
        listing = await response.json()
    assert [item["metadata"]["name"] for item in listing["items"]] == ["l"]
    async with session.get("/apis/coordination.k8s.io/v1/namespaces/other/leases") as response:
        assert (await response.json())["items"] == []


async def test_kubeconfig_points_at_the_server(api, tmp_path) -> None:
    server, _ = api
    config = yaml.safe_load(server.write_kubeconfig(tmp_path / "kubeconfig", namespace="ns").read_text())
    assert config["clusters"][0]["cluster"]["server"] == server.url
    assert config["contexts"][0]["context"]["namespace"] == "ns"
