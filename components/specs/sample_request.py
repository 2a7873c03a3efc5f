"""The seeds' test request: what a user sends through the Gateway once `pulumi up` is done (a stack output)
and what `infgw local` sends through the local gateway. One definition for both."""

from __future__ import annotations

import json
import shlex
from typing import Any

from components.config.services import PoolSpec, ServicesConfig

SEED_PROMPT = "What is the best pizza in the world?"  # Google's multi-cluster guide's test prompt
SEED_MAX_TOKENS = 100


def sample_completion_model(pool: PoolSpec) -> str:
    """The guide asks an adapter (food-review-1); a pool without adapters is asked its base model."""
    return pool.lora.adapters[0].id if pool.lora is not None and pool.lora.adapters else pool.model


def completion_body(model: str) -> dict[str, Any]:
    return {"model": model, "prompt": SEED_PROMPT, "max_tokens": SEED_MAX_TOKENS, "temperature": 0}


def curl_line(base_url: str, path: str, body: dict[str, Any]) -> str:
    return (
        f"curl -i -X POST {base_url}{path} -H 'Content-Type: application/json' "
        f"-d {shlex.quote(json.dumps(body))}"
    )


def sample_curls(services: ServicesConfig, addresses: list[str]) -> list[str]:
    """`sample_curl` for each of a Gateway's addresses."""
    return [sample_curl(address, services) for address in addresses]


def sample_curl(address: str, services: ServicesConfig) -> str:
    """The test request against a Gateway address, ready to paste (from a VM in the VPC for an internal
    gateway)."""
    port = services.gateway.port
    base = f"http://{address}" if port == 80 else f"http://{address}:{port}"
    return curl_line(base, "/v1/completions", completion_body(sample_completion_model(services.pools[0])))
