"""One way to reach the Kubernetes API: ``--kubeconfig`` if given, else in-cluster config, else
~/.kube/config. Each caller gets its own client configuration (no process-wide default is touched)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from kubernetes_asyncio import client, config


@contextlib.asynccontextmanager
async def kubernetes_api_client(kubeconfig: Path | None) -> AsyncIterator[client.ApiClient]:
    """An ApiClient for the configured cluster, closed on exit."""
    configuration = client.Configuration()
    if kubeconfig is not None:
        await config.load_kube_config(
            config_file=str(kubeconfig), client_configuration=configuration, persist_config=False
        )
    else:
        try:
            # kubernetes-asyncio's in-cluster loader is untyped.
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            await config.load_kube_config(client_configuration=configuration, persist_config=False)
    async with client.ApiClient(configuration) as api:
        yield api
