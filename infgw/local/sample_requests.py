"""The multi-cluster guide's test request (and a chat variant) per pool: built from the plan, shown as curl, sent through
the gateway, the answer checked to be an OpenAI-shaped completion."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict

from components.specs.sample_request import SEED_MAX_TOKENS, SEED_PROMPT, completion_body, curl_line
from infgw.local.plan import LocalPlan


class SampleRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    pool: str
    path: str
    body: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.pool}: POST {self.path} model={self.body['model']}"


class SampleResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    request: SampleRequest
    status: int
    body: Any
    replica: str | None
    elapsed_s: float
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def text(self) -> str:
        """The generated text (completions) or message content (chat), empty when there is none."""
        if not isinstance(self.body, dict) or not self.body.get("choices"):
            return ""
        choice = self.body["choices"][0]
        return str(choice.get("text") or (choice.get("message") or {}).get("content") or "")


def sample_requests(plan: LocalPlan) -> list[SampleRequest]:
    """Per pool: the multi-cluster guide's completion (an adapter's name when the pool has one) and a chat to the base model."""
    requests: list[SampleRequest] = []
    for pool in plan.pools:
        requests.append(
            SampleRequest(
                pool=pool.name,
                path="/v1/completions",
                body=completion_body(pool.sample_completion_model),
            )
        )
        requests.append(
            SampleRequest(
                pool=pool.name,
                path="/v1/chat/completions",
                body={
                    "model": pool.model,
                    "messages": [{"role": "user", "content": SEED_PROMPT}],
                    "max_tokens": SEED_MAX_TOKENS,
                    "temperature": 0,
                },
            )
        )
    return requests


def curl_command(gateway_url: str, request: SampleRequest) -> str:
    return curl_line(gateway_url, request.path, request.body)


def _problem(request: SampleRequest, status: int, body: Any) -> str | None:
    if status != 200:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        return f"HTTP {status}: {message or str(body)[:300]}"
    if not isinstance(body, dict) or not body.get("choices"):
        return f"HTTP 200 but no choices in the answer: {str(body)[:300]}"
    if body.get("model") != request.body["model"]:
        return f"answered by model {body.get('model')!r}, asked {request.body['model']!r}"
    return None


async def send_sample(
    session: aiohttp.ClientSession, gateway_url: str, request: SampleRequest, timeout_s: float = 60.0
) -> SampleResult:
    started = time.monotonic()
    try:
        async with session.post(
            gateway_url + request.path, json=request.body, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as response:
            raw = await response.text()
            status = response.status
            replica = response.headers.get("x-sim-replica")
    except (aiohttp.ClientError, TimeoutError) as error:
        return SampleResult(
            request=request,
            status=0,
            body=None,
            replica=None,
            elapsed_s=time.monotonic() - started,
            problem=f"no answer from the gateway: {error!r}",
        )
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw
    return SampleResult(
        request=request,
        status=status,
        body=body,
        replica=replica,
        elapsed_s=time.monotonic() - started,
        problem=_problem(request, status, body),
    )
