"""How long `pulumi up` may wait for a model-server Deployment, derived from the pool's config.

pulumi-kubernetes waits for a Deployment until every replica is ready (10 minutes unless the resource sets
`customTimeouts`). A vLLM replica is ready only after its node pulled the image and vLLM downloaded and
loaded the model, which the startup probe allows `startupTimeoutS` for on its own, so the default wait can
never be enough. The formulas (docs/deploying.md):

    create = imagePullS + startupTimeoutS + POD_START_S
    update = ceil(replicas / MAX_UNAVAILABLE) x (terminationGracePeriodSeconds + create)

An update replaces replicas one at a time (maxSurge 0: a GPU pool has no spare accelerator for a surge pod),
and each old pod holds its GPU for up to its termination grace period before the new one can schedule.
"""

from __future__ import annotations

import math

from components.config.services import PoolSpec

# Scheduling, volume mounts, container start and the first readiness probes of one pod.
POD_START_S = 120
# Model-server rollouts: one replica down at a time, none added (no spare GPU for a surge pod).
MAX_UNAVAILABLE = 1
MAX_SURGE = 0
# Annotation carrying the pull allowance, so the offline rehearsal checks the budget against it.
IMAGE_PULL_ANNOTATION = "infgw.dev/image-pull-seconds"


def create_budget_s(pool: PoolSpec) -> int:
    return pool.image_pull_s + pool.startup_timeout_s + POD_START_S


def update_budget_s(pool: PoolSpec) -> int:
    replicas = pool.autoscaling.max_replicas if pool.autoscaling is not None else max(pool.replicas, 1)
    batches = math.ceil(replicas / MAX_UNAVAILABLE)
    return batches * (pool.drain.termination_grace_period_s + create_budget_s(pool))


def go_duration(seconds: int) -> str:
    """Pulumi's custom timeouts take Go durations: 1830 -> '30m30s'."""
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest}s" if rest else f"{minutes}m"
