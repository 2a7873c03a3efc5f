"""How a micro-benchmark names the command that made its table: ``python -m <module> <args>``, never the
machine's path to the script (``sys.argv[0]`` is that path when run with ``-m``)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path


def command_line() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    program = f"python -m {spec.name}" if spec is not None else f"python {Path(sys.argv[0]).name}"
    return " ".join([program, *map(shlex.quote, sys.argv[1:])])
