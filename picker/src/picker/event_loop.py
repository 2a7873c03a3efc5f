"""Which event loop ``python -m picker`` runs on: uvloop (the default) or asyncio's own.

uvloop runs the loop, its sockets and its TLS in compiled code (libuv), where asyncio's selector loop and
its SSL protocol are Python; the picker's per-message work is mostly that transport layer (picker/README.md,
Transport), so the loop is the cheapest place to cut it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from picker.cli import OptionsError

_Result = TypeVar("_Result")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory(use_uvloop: bool) -> LoopFactory | None:
    """uvloop's ``new_event_loop`` when asked for, else None (asyncio's default loop).

    Raises OptionsError naming ``--uvloop`` when uvloop is wanted but cannot be imported."""
    if not use_uvloop:
        return None
    try:
        import uvloop
    except ImportError as error:
        raise OptionsError(
            f"--uvloop: uvloop cannot be imported ({error}); install it (pip install uvloop) or pass "
            "--uvloop=false to run on asyncio's own event loop"
        ) from None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, _Result], factory: LoopFactory | None) -> _Result:
    """``asyncio.run(main)`` on a loop from ``factory`` (None: asyncio's default)."""
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
