"""A fake of the Kubernetes API server's coordination.k8s.io/v1 Lease resource, for pickers that run
leader election outside a cluster (``infgw local`` with ``picker.replicas > 1``, and tests).

Serves GET (one or list), POST, PUT and PATCH (JSON merge patch) on
``/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases[/{name}]`` with the API server's contract
for what leader election relies on: every write gets a new ``metadata.resourceVersion``; a PUT whose
resourceVersion is stale is refused with 409 Conflict, a POST of an existing Lease with 409
AlreadyExists, a missing Lease is 404 NotFound, each with a ``Status`` body. No authentication, no
watch, no other resources. Bound to 127.0.0.1; :meth:`FakeLeaseApi.write_kubeconfig` points clients at it.
"""

from __future__ import annotations

import datetime
import itertools
import json
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from aiohttp import web

_PREFIX = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
_MERGE_PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")


def _status(code: int, reason: str, message: str, name: str = "") -> web.Response:
    """A Kubernetes ``Status`` failure, as the API server answers errors."""
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": {"name": name, "group": "coordination.k8s.io", "kind": "leases"},
        "code": code,
    }
    return web.json_response(body, status=code)


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (for a Lease, strategic merge patch means the same)."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge_patch(merged.get(key), value)
    return merged


class FakeLeaseApi:
    """The Lease API on 127.0.0.1 (port 0 = a free one); use as ``async with FakeLeaseApi() as api``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._requested_port = port
        self._leases: dict[tuple[str, str], dict[str, Any]] = {}
        self._revisions = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored Lease (a copy), or None."""
        stored = self._leases.get((namespace, name))
        return json.loads(json.dumps(stored)) if stored is not None else None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", _PREFIX, self._list)
        app.router.add_route("POST", _PREFIX, self._create)
        app.router.add_route("GET", _PREFIX + "/{name}", self._get)
        app.router.add_route("PUT", _PREFIX + "/{name}", self._replace)
        app.router.add_route("PATCH", _PREFIX + "/{name}", self._patch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._requested_port)
        await site.start()
        # aiohttp exposes the bound socket only through its asyncio server (typed as the abstract base).
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeLeaseApi:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.stop()

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig whose current context talks to this server (a token it does not check)."""
        if not self.port:
            raise RuntimeError("start the fake Lease API before writing a kubeconfig for it")
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake-lease-api", "cluster": {"server": self.url}}],
            "users": [{"name": "fake-lease-api", "user": {"token": "fake-lease-api"}}],
            "contexts": [
                {
                    "name": "fake-lease-api",
                    "context": {
                        "cluster": "fake-lease-api",
                        "user": "fake-lease-api",
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": "fake-lease-api",
        }
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return path

    # --- handlers -------------------------------------------------------------------------------

    async def _list(self, request: web.Request) -> web.Response:
        if request.query.get("watch") in ("1", "true"):
            return _status(400, "BadRequest", "watch is not supported by the fake Lease API")
        namespace = request.match_info["namespace"]
        items = [lease for (ns, _), lease in sorted(self._leases.items()) if ns == namespace]
        return web.json_response(
            {
                "kind": "LeaseList",
                "apiVersion": "coordination.k8s.io/v1",
                "metadata": {"resourceVersion": str(self._current_revision())},
                "items": items,
            }
        )

    async def _get(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        stored = self._leases.get((namespace, name))
        if stored is None:
            return _status(404, "NotFound", f'leases.coordination.k8s.io "{name}" not found', name)
        return web.json_response(stored)

    async def _create(self, request: web.Request) -> web.Response:
        namespace = request.match_info["namespace"]
        body = await self._lease_body(request, namespace)
        if isinstance(body, web.Response):
            return body
        name = body["metadata"].get("name") or ""
        if not name:
            return _status(
                422, "Invalid", "Lease.coordination.k8s.io is invalid: metadata.name: Required value"
            )
        if (namespace, name) in self._leases:
            return _status(409, "AlreadyExists", f'leases.coordination.k8s.io "{name}" already exists', name)
        metadata = body["metadata"]
        metadata.pop("resourceVersion", None)
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return web.json_response(self._store(namespace, name, body), status=201)

    async def _replace(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        body = await self._lease_body(request, namespace)
        if isinstance(body, web.Response):
            return body
        if body["metadata"].get("name", name) != name:
            return _status(
                400,
                "BadRequest",
                f"the name of the object ({body['metadata']['name']}) does not match the name on the URL ({name})",
                name,
            )
        return self._write(namespace, name, body)

    async def _patch(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        if request.content_type not in _MERGE_PATCH_TYPES:
            return _status(
                415, "UnsupportedMediaType", f"patch type {request.content_type!r}: use a JSON merge patch"
            )
        stored = self._leases.get((namespace, name))
        if stored is None:
            return _status(404, "NotFound", f'leases.coordination.k8s.io "{name}" not found', name)
        try:
            patch = await request.json()
        except ValueError as error:
            return _status(400, "BadRequest", f"the patch is not JSON: {error}", name)
        merged = _merge_patch(stored, patch)
        merged["metadata"] = {**stored["metadata"], **(merged.get("metadata") or {})}
        return self._write(namespace, name, merged)

    # --- storage --------------------------------------------------------------------------------

    def _write(self, namespace: str, name: str, body: dict[str, Any]) -> web.Response:
        """Update with the API server's optimistic concurrency: a given resourceVersion must be current."""
        stored = self._leases.get((namespace, name))
        if stored is None:
            return _status(404, "NotFound", f'leases.coordination.k8s.io "{name}" not found', name)
        expected = body["metadata"].get("resourceVersion")
        if expected and expected != stored["metadata"]["resourceVersion"]:
            return _status(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on leases.coordination.k8s.io "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
                name,
            )
        for key in ("uid", "creationTimestamp"):
            body["metadata"][key] = stored["metadata"][key]
        return web.json_response(self._store(namespace, name, body))

    def _store(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        body["apiVersion"], body["kind"] = "coordination.k8s.io/v1", "Lease"
        body["metadata"].update(name=name, namespace=namespace, resourceVersion=str(next(self._revisions)))
        body.setdefault("spec", {})
        self._leases[(namespace, name)] = body
        return body

    def _current_revision(self) -> int:
        versions = [int(lease["metadata"]["resourceVersion"]) for lease in self._leases.values()]
        return max(versions, default=0)

    @staticmethod
    async def _lease_body(request: web.Request, namespace: str) -> dict[str, Any] | web.Response:
        try:
            body = await request.json()
        except ValueError as error:
            return _status(400, "BadRequest", f"the body is not JSON: {error}")
        if not isinstance(body, dict) or body.get("kind", "Lease") != "Lease":
            return _status(400, "BadRequest", "the body must be a coordination.k8s.io/v1 Lease object")
        metadata = body.setdefault("metadata", {})
        if not isinstance(metadata, dict) or not isinstance(body.get("spec", {}), dict):
            return _status(400, "BadRequest", "metadata and spec must be objects")
        if metadata.get("namespace", namespace) != namespace:
            return _status(
                400,
                "BadRequest",
                f"the namespace of the object ({metadata['namespace']}) does not match the namespace on the URL "
                f"({namespace})",
            )
        return body
