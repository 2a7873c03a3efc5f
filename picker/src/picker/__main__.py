"""``python -m picker``: parse the flags, build the runtime, serve until SIGTERM. Exit code 2 for bad
flags or configuration (nothing was started), 1 if discovery or scraping stops unexpectedly."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from picker.cli import OptionsError, parse_options
from picker.config.errors import ConfigError
from picker.event_loop import LoopFactory, loop_factory
from picker.event_loop import run as run_on_loop
from picker.options import PickerOptions
from picker.server.tls import CertificateError

logger = logging.getLogger("picker")


class _JsonLogFormatter(logging.Formatter):
    """One JSON object per line (``--zap-encoder json``), for log pipelines that parse fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(options: PickerOptions, process_name: str = "") -> None:
    """``process_name``: a worker's (``worker 1``), written into every line so their logs tell apart."""
    handler = logging.StreamHandler(sys.stderr)
    if options.log_format == "json":
        handler.setFormatter(_JsonLogFormatter())
    else:
        where = f" [{process_name}]" if process_name else ""
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s %(name)s{where}: %(message)s"))
    logging.basicConfig(level=options.log_level.upper(), handlers=[handler], force=True)
    if options.log_level != "debug":
        # Envoy resets every ext_proc stream once the response is through, and grpclib logs each reset
        # at INFO ("Request was cancelled"): a line and a write per request. Its errors still show.
        logging.getLogger("grpclib.server").setLevel(logging.WARNING)


def _warn_about_compatibility_flags(options: PickerOptions) -> None:
    if options.tracing:
        logger.warning(
            "--tracing: OpenTelemetry tracing is not implemented in this picker; continuing without"
        )


async def serve(options: PickerOptions) -> None:
    # Imported once the flags are valid, so --help and flag errors answer without loading the runtime.
    from picker.app import PickerApp
    from picker.framework.clock import RealClock
    from picker.runtime import ProcessRuntime

    clock = RealClock()
    worker_count = resolved_worker_count(options)
    if worker_count > 1:
        # The supervisor: workers run the runtime; it answers health and metrics and holds the Lease.
        from picker.workers.supervisor import serve_with_workers

        await serve_with_workers(options, worker_count, clock, os.environ)
        return
    runtime = ProcessRuntime(options, clock, os.environ)
    if not options.ha_enable_leader_election:
        await PickerApp(options, runtime, clock).run_until_signalled()
        return
    # Imported only here: the Kubernetes client takes seconds to import.
    from picker.leadership.process_election import open_leader_elector

    async with open_leader_elector(options, clock, os.environ) as elector:
        logger.info("leader election on as %s; reporting NOT_SERVING until elected", elector.identity)
        await PickerApp(options, runtime, clock, elector).run_until_signalled()


def resolved_worker_count(options: PickerOptions) -> int:
    """--workers as a number: ``auto`` is the CPU limit, else the CPU affinity (picker.workers.cpu_limit)."""
    if options.workers == "auto":
        from picker.workers.cpu_limit import available_cpus

        return available_cpus()
    return options.workers


def run_and_map_errors(serving: Coroutine[Any, Any, None], loop: LoopFactory | None = None) -> int:
    """Run ``serving`` to the end on a loop from ``loop`` (None: asyncio's own); exit code 2 for
    configuration and port problems, 1 for a stop."""
    from picker.workers.start_error import WorkerStartError

    try:
        run_on_loop(serving, loop)
    except (ConfigError, CertificateError) as error:
        logger.error("%s", error)
        return 2
    except OSError as error:  # typically a port already in use
        logger.error("cannot serve: %s", error)
        return 2
    except WorkerStartError as error:
        logger.error("%s", error)
        return error.exit_code
    except RuntimeError as error:
        logger.exception("picker stopped: %s", error)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = parse_options(sys.argv[1:] if argv is None else argv)
    except OptionsError as error:
        print(f"python -m picker: error: {error}", file=sys.stderr)
        return 2
    try:
        loop = loop_factory(options.uvloop)
    except OptionsError as error:
        print(f"python -m picker: error: {error}", file=sys.stderr)
        return 2
    configure_logging(options)
    _warn_about_compatibility_flags(options)
    return run_and_map_errors(serve(options), loop)


if __name__ == "__main__":
    sys.exit(main())
