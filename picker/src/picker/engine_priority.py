"""The InferenceObjective's priority, carried to the model server's own scheduler as vLLM's ``priority``.

vLLM started with ``--scheduling-policy priority`` orders its waiting queue by the request body's
``priority`` (lower first, then arrival) and, when KV blocks run out, preempts the running request with
the largest one. The picker is told the pool's policy with ``--model-server-scheduling-policy``:

- ``fcfs`` (vLLM's default): the picker never writes the field, and a body passes as the client sent it.
  A client's non-zero ``priority`` reaches vLLM, which answers 400 (``Got priority N but Priority
  scheduling is not enabled.``), exactly as it would without the gateway: the picker does not hide a
  field the server cannot honour.
- ``priority``: the picker owns the field. A request whose ``x-gateway-inference-objective`` names a
  known InferenceObjective gets ``priority = -objective.priority``; any other request that carries a
  ``priority`` gets 0, the priority of a request with no objective. A client-sent value is overwritten,
  never obeyed: otherwise any client could jump the engine's queue past the operator's objectives. It
  is not refused either, so SDKs that always send the field keep working. A body that already holds the
  value (including none at all for 0) is forwarded byte for byte.

The mapping: InferenceObjective priority is higher = more important (negative = sheddable); vLLM's is
lower = earlier. Negation keeps the order and keeps 0 at 0, so a default objective ranks with requests
that carry no objective at all (vLLM's default 0), and sheddable objectives (< 0) come after both.
InferenceObjective priorities are int32, so the negation always fits vLLM's int64 field.
"""

from __future__ import annotations

from typing import Any, Literal

ModelServerSchedulingPolicy = Literal["fcfs", "priority"]
VLLM_PRIORITY_FIELD = "priority"


def vllm_priority(objective_priority: int) -> int:
    """vLLM's ``priority`` for an InferenceObjective priority (higher = more important -> lower = earlier)."""
    return -objective_priority


def write_engine_priority(
    body: dict[str, Any], objective_priority: int | None, policy: ModelServerSchedulingPolicy
) -> bool:
    """Set ``body["priority"]`` as the module docstring says; True when the body changed.

    Args:
        body: the parsed request body, changed in place.
        objective_priority: the request's InferenceObjective priority; None without a known objective.
        policy: the pool's model-server scheduling policy.
    """
    if policy != "priority":
        return False
    wanted = 0 if objective_priority is None else vllm_priority(objective_priority)
    if VLLM_PRIORITY_FIELD not in body:
        if wanted == 0:
            return False  # vLLM's default already
    else:
        sent = body[VLLM_PRIORITY_FIELD]
        if type(sent) is int and sent == wanted:
            return False
    body[VLLM_PRIORITY_FIELD] = wanted
    return True
