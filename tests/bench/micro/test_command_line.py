"""A micro-benchmark's table names the command as ``python -m <module> <args>``, not the script's path."""

from __future__ import annotations

import sys
import types

import pytest
from bench.micro.command_line import command_line


def test_a_module_run_with_dash_m_is_named_by_its_module(monkeypatch: pytest.MonkeyPatch) -> None:
    main = types.ModuleType("__main__")
    main.__spec__ = types.SimpleNamespace(name="bench.micro.picker.worker_scaling")  # type: ignore[assignment]
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", ["/home/someone/repo/bench/src/bench/micro/picker/worker_scaling.py",
                                      "--profiles", "precise", "--output", "a file.md"])
    assert command_line() == "python -m bench.micro.picker.worker_scaling --profiles precise --output 'a file.md'"


def test_a_script_is_named_without_its_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    main = types.ModuleType("__main__")
    main.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", ["/home/someone/tool.py", "-x"])
    assert command_line() == "python tool.py -x"
