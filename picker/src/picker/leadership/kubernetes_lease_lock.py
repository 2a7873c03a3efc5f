"""The Lease as coordination.k8s.io/v1 stores it, through kubernetes-asyncio (GET, POST, PUT)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from picker.leadership.lease_lock import LeaseConflict
from picker.leadership.lease_record import LeaseRecord

_NOT_FOUND, _CONFLICT = 404, 409


def _micro_time(moment: datetime.datetime | None) -> str | None:
    """Kubernetes MicroTime: RFC 3339 in UTC with microseconds."""
    if moment is None:
        return None
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: object) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.datetime.fromisoformat(value)
    return None


class KubernetesLeaseLock:
    """One Lease in one namespace; 409 from the API server becomes LeaseConflict."""

    def __init__(self, api: client.ApiClient, namespace: str, name: str) -> None:
        self._api = api
        self._leases = client.CoordinationV1Api(api)
        self._namespace = namespace
        self._name = name

    @property
    def description(self) -> str:
        return f"{self._namespace}/{self._name}"

    async def get(self) -> LeaseRecord | None:
        try:
            lease = await self._leases.read_namespaced_lease(self._name, self._namespace)
        except ApiException as error:
            if error.status == _NOT_FOUND:
                return None
            raise
        return self._record(self._api.sanitize_for_serialization(lease))

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        try:
            # The client serialises a plain manifest as well as a V1Lease (its annotation names only the model).
            lease = await self._leases.create_namespaced_lease(self._namespace, self._body(record))  # type: ignore[arg-type]
        except ApiException as error:
            if error.status == _CONFLICT:
                raise LeaseConflict(f"lease {self.description} already exists") from None
            raise
        return self._record(self._api.sanitize_for_serialization(lease))

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        try:
            lease = await self._leases.replace_namespaced_lease(
                self._name, self._namespace, self._body(record)  # type: ignore[arg-type]  # as in create()
            )
        except ApiException as error:
            if error.status == _CONFLICT:
                raise LeaseConflict(f"lease {self.description} changed since it was read") from None
            raise
        return self._record(self._api.sanitize_for_serialization(lease))

    def _body(self, record: LeaseRecord) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self._name, "namespace": self._namespace}
        if record.resource_version:
            metadata["resourceVersion"] = record.resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": record.holder_identity,
                "leaseDurationSeconds": record.lease_duration_s,
                "acquireTime": _micro_time(record.acquire_time),
                "renewTime": _micro_time(record.renew_time),
                "leaseTransitions": record.lease_transitions,
            },
        }

    @staticmethod
    def _record(lease: Mapping[str, Any]) -> LeaseRecord:
        spec = lease.get("spec") or {}
        return LeaseRecord(
            holder_identity=spec.get("holderIdentity") or "",
            lease_duration_s=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=_parse_time(spec.get("acquireTime")),
            renew_time=_parse_time(spec.get("renewTime")),
            lease_transitions=int(spec.get("leaseTransitions") or 0),
            resource_version=str((lease.get("metadata") or {}).get("resourceVersion") or ""),
        )
