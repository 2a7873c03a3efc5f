"""Pool membership and objective priorities from the static endpoints file (``endpoints_file.py``), for
local runs without Kubernetes.

The file is re-read when it changes; a bad edit is logged and the last good state stays in force.
"""

from __future__ import annotations

import logging
from pathlib import Path

from picker.config.errors import ConfigError, ConfigIssue
from picker.datastore.endpoints_file import StaticPoolFile, parse_static_pool
from picker.datastore.store import EndpointStore
from picker.framework.clock import Clock
from picker.framework.types import Endpoint

logger = logging.getLogger(__name__)


class StaticEndpointSource:
    """Loads the file into the store now (:meth:`load`) and on every change while :meth:`run` runs."""

    def __init__(
        self, path: str | Path, store: EndpointStore, clock: Clock, poll_interval_s: float = 1.0
    ) -> None:
        self._path = Path(path)
        self._store = store
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._loaded_stamp: tuple[int, int] | None = None

    def load(self) -> StaticPoolFile:
        """Read, validate and apply the file. Raises ConfigError and changes nothing when it is invalid."""
        try:
            stat = self._path.stat()
            text = self._path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError([ConfigIssue("", f"cannot read: {error.strerror}")], str(self._path)) from None
        pool = parse_static_pool(text, str(self._path))
        self._store.replace_endpoints(
            Endpoint(name=e.name, address=e.address, port=e.port, labels=dict(e.labels))
            for e in pool.endpoints
        )
        self._store.replace_objectives({objective.name: objective.priority for objective in pool.objectives})
        self._store.mark_synced()
        self._loaded_stamp = (stat.st_mtime_ns, stat.st_size)
        return pool

    async def run(self) -> None:
        """Reload whenever the file's mtime or size changes; keep the last good state on errors."""
        while True:
            await self._clock.sleep(self._poll_interval_s)
            try:
                stat = self._path.stat()
            except OSError:
                continue
            if (stat.st_mtime_ns, stat.st_size) == self._loaded_stamp:
                continue
            try:
                self.load()
                logger.info("reloaded static endpoints from %s", self._path)
            except ConfigError as error:
                self._loaded_stamp = (stat.st_mtime_ns, stat.st_size)  # report each bad version once
                logger.error("keeping the previous endpoints: %s", error)
