"""Fixtures for end-to-end picker tests (the harness itself is gateway_harness.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from gateway_harness import Gateway, start_gateway


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await gateway(upstream_names, **options)``: a gateway for this test only (see start_gateway)."""
    async with contextlib.AsyncExitStack() as cleanup:

        async def start(*args: Any, **kwargs: Any) -> Gateway:
            return await start_gateway(tmp_path, cleanup, *args, **kwargs)

        yield start
