"""Every module of the bench package imports: the scripts under ``bench.micro`` run only by hand, so a moved
name they import would otherwise surface only when someone next runs them."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench

MODULES = sorted(info.name for info in pkgutil.walk_packages(bench.__path__, "bench."))


def test_the_micro_benchmarks_are_among_the_modules() -> None:
    assert "bench.micro.picker.worker_scaling" in MODULES and "bench.micro.sim.engine_speed" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_module_imports(module: str) -> None:
    importlib.import_module(module)
