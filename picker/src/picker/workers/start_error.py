"""A worker that could not start: the picker exits with the worker's own exit code."""

from __future__ import annotations


class WorkerStartError(RuntimeError):
    """A worker exited before it served; its own error is in the log above this one."""

    def __init__(self, index: int, exit_code: int) -> None:
        self.index = index
        self.exit_code = exit_code if exit_code > 0 else 1
        super().__init__(
            f"worker {index} exited with code {exit_code} before serving (its error is logged above); "
            "the picker stops"
        )
