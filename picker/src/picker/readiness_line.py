"""The one line the picker prints on stdout once every port is bound: a JSON object naming the ports it
serves, so whatever started it on port 0 reads them back (``infgw.launch`` parses it). Printed whatever
the log level, and only here: a process that supervises pickers prints the same model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Self

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from picker.options import PickerOptions


class PickerReadinessLine(BaseModel):
    """``{"event": "picker-serving", "bind_address": ..., "grpc_port": ..., "tls": ..., "health_port": ...,
    "metrics_port": ...}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: Literal["picker-serving"] = "picker-serving"
    bind_address: str
    grpc_port: int
    tls: bool
    health_port: int
    metrics_port: int

    @classmethod
    def serving(cls, options: PickerOptions, grpc_port: int, health_port: int, metrics_port: int) -> Self:
        """The line of a picker started with ``options`` that bound these ports."""
        return cls(
            bind_address=options.bind_address,
            grpc_port=grpc_port,
            tls=options.secure_serving,
            health_port=health_port,
            metrics_port=metrics_port,
        )

    def render(self) -> str:
        return self.model_dump_json()

    def announce(self) -> None:
        """Print the line to stdout, where the launcher reads it."""
        print(self.render(), flush=True)
