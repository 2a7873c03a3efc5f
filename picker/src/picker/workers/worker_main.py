"""One worker process: ``python -m picker.workers.worker_main INDEX REPORT_FD CONNECTIONS_FD [COUNT
PLACEMENTS_TOKEN]`` with its PickerOptions as JSON on stdin, started by the supervisor
(picker.workers.supervisor), never by hand.

It is a whole picker (discovery, scraping, KV-event subscriptions, scheduling state of its own) that serves
the ext_proc connections its supervisor accepts on the picker's port and passes over the Unix socket
CONNECTIONS_FD (picker.workers.dealt_connections), with no ext_proc port of its own; its health and metrics
ports are free loopback ports. It tells the supervisor, one JSON line each on REPORT_FD: ``serving`` (its pid and those
ports) once bound, and ``ready`` whenever its readiness changes. SIGTERM drains it like a picker. With
COUNT and PLACEMENTS_TOKEN it shares its placements with its COUNT - 1 siblings (picker.placements: abstract
Unix datagram addresses named by the token).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from collections.abc import Sequence
from typing import IO

from picker.options import PickerOptions
from picker.placements.datagram_channel import ChannelAddresses, worker_addresses
from picker.workers.reports import READY, SERVING

logger = logging.getLogger(__name__)


async def serve_worker(
    options: PickerOptions,
    report: IO[str],
    dealt_connections: socket.socket,
    siblings: ChannelAddresses | None = None,
) -> None:
    from picker.app import PickerApp
    from picker.framework.clock import RealClock
    from picker.runtime import ProcessRuntime

    clock = RealClock()
    app = PickerApp(options, ProcessRuntime(options, clock, os.environ, siblings), clock,
                    dealt_connections=dealt_connections)  # fmt: skip

    def serving(started: PickerApp) -> None:
        message = {"event": SERVING, "pid": os.getpid(), "health": started.grpc_health_port,
                   "metrics": started.metrics_port}  # fmt: skip
        report.write(json.dumps(message) + "\n")
        started.health.subscribe(report_readiness)

    def report_readiness(ready: bool) -> None:
        try:
            report.write(json.dumps({"event": READY, "ready": ready}) + "\n")
        except OSError as error:  # the supervisor is gone; the kernel's parent-death signal stops this worker
            logger.warning("readiness not reported to the supervisor: %s", error)

    await app.run_until_signalled(on_serving=serving)


def main(argv: Sequence[str]) -> int:
    from picker.__main__ import configure_logging, run_and_map_errors
    from picker.event_loop import loop_factory

    index, report_fd, connections_fd, *sharing = argv
    options = PickerOptions.model_validate_json(sys.stdin.read())
    configure_logging(options, f"worker {index}")
    siblings = None
    if sharing:
        count, token = sharing
        siblings = worker_addresses(token, int(index), int(count))
    with (
        os.fdopen(int(report_fd), "w", buffering=1, encoding="utf-8") as report,
        socket.socket(fileno=int(connections_fd)) as dealt_connections,
    ):
        return run_and_map_errors(
            serve_worker(options, report, dealt_connections, siblings), loop_factory(options.uvloop)
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
