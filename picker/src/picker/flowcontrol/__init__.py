"""Flow control: the picker-side priority/fairness queue with TTL and bounded size."""

from __future__ import annotations

from picker.flowcontrol.flow_controller import FlowController, FlowOutcome
from picker.flowcontrol.flow_queue import FlowQueue, QueuedRequest

__all__ = ["FlowController", "FlowOutcome", "FlowQueue", "QueuedRequest"]
