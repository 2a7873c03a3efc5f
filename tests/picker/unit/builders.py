"""Builders for the picker's decision-core unit tests: endpoints with metrics snapshots, requests."""

from __future__ import annotations

from typing import Any

from picker.framework.types import Endpoint, EndpointMetrics, EndpointState, InferenceRequest


def endpoint_state(index: int, metrics: EndpointMetrics | None = None, **metric_fields: Any) -> EndpointState:
    """Endpoint ``e<index>`` at 10.0.0.<index>:8000; metric fields build an EndpointMetrics when given."""
    if metrics is None and metric_fields:
        metrics = EndpointMetrics(**metric_fields)
    return EndpointState(Endpoint(name=f"e{index}", address=f"10.0.0.{index}", port=8000), metrics)


def inference_request(
    prompt: str = "", model: str = "base", request_id: str = "r-1", **fields: Any
) -> InferenceRequest:
    return InferenceRequest(
        request_id=request_id,
        model=fields.pop("client_model", model),
        target_model=model,
        prompt_text=prompt,
        body={"model": model, "prompt": prompt},
        body_size_bytes=len(prompt),
        **fields,
    )
