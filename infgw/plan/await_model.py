"""What `pulumi up` waits for, per resource, as pulumi-kubernetes v4 decides it, and how long each wait is
expected to take. The deploy rehearsal (``infgw.plan.rehearsal``) checks a plan against this model.

The await rules are pulumi-kubernetes' (provider/pkg/await): `pulumi.com/skipAwait` disables the wait,
`pulumi.com/waitFor` replaces it with a condition, Deployments and Services (and a few other kinds) have a
built-in wait, every other kind is not awaited. The budget is the `custom_timeouts` resource option, else
the `pulumi.com/timeoutSeconds` annotation, else 10 minutes.

Expected times are this project's assumptions, stated here once: what a pod needs is read from its spec
(probe windows, the image-pull allowance the model-server Deployment declares), the rest are constants.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from components.specs.rollout_budget import IMAGE_PULL_ANNOTATION
from infgw.plan.model import UNKNOWN, PlannedResource

DEFAULT_TIMEOUT_S = 600
SKIP_AWAIT = "pulumi.com/skipAwait"
WAIT_FOR = "pulumi.com/waitFor"
TIMEOUT_SECONDS = "pulumi.com/timeoutSeconds"

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
JOB = "kubernetes:batch/v1:Job"
POD = "kubernetes:core/v1:Pod"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"

# Kinds pulumi-kubernetes waits for without being asked, and what "ready" means for each.
BUILT_IN_AWAITS = {
    DEPLOYMENT: "every replica of the new revision ready, Available=True",
    STATEFUL_SET: "every replica ready at the current revision",
    JOB: "Complete=True",
    POD: "Ready=True and Running",
    SERVICE: "an Endpoints object with no not-ready address, then 10 s without change",
    INGRESS: "endpoints for every backend Service and a load-balancer address",
}

# Assumptions (seconds). A pod with no declared pull allowance pulls a small image.
SMALL_IMAGE_PULL_S = 60
POD_SCHEDULE_AND_START_S = 30
SERVICE_SETTLE_S = 10
# GKE programming a Gateway's load balancer and reporting its address: minutes, not documented as a bound.
GATEWAY_PROGRAMMED_S = 600
CRD_ESTABLISHED_S = 10
OTHER_CONDITION_S = 60

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def go_duration_s(text: str) -> float:
    """'1h30m', '45m', '1830s' -> seconds (the form Pulumi's custom timeouts take)."""
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{text!r} is not a duration like 30m or 1h30m")
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)


def annotations_of(resource: PlannedResource) -> dict[str, Any]:
    value = resource.get("metadata.annotations") or {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class Await:
    """One wait `pulumi up` performs after creating a resource."""

    condition: str
    create_budget_s: float
    update_budget_s: float
    budget_source: str  # "customTimeouts", "annotation" or "default"


def await_of(resource: PlannedResource) -> Await | None:
    """The wait pulumi-kubernetes performs for `resource`, or None when it does not wait."""
    if not resource.type.startswith("kubernetes:") or resource.type.startswith("kubernetes:yaml"):
        return None
    notes = annotations_of(resource)
    if str(notes.get(SKIP_AWAIT, "")).lower() == "true":
        return None
    if WAIT_FOR in notes:
        condition = f"{WAIT_FOR}: {notes[WAIT_FOR]}"
    elif resource.type in BUILT_IN_AWAITS:
        if resource.type == SERVICE and not _service_waits_for_pods(resource):
            return None
        condition = BUILT_IN_AWAITS[resource.type]
    else:
        return None
    create = update = float(DEFAULT_TIMEOUT_S)
    source = "default"
    if TIMEOUT_SECONDS in notes:
        create = update = float(notes[TIMEOUT_SECONDS])
        source = "annotation"
    if resource.custom_timeouts:
        source = "customTimeouts"
        create = go_duration_s(resource.custom_timeouts.get("create", f"{int(create)}s"))
        update = go_duration_s(resource.custom_timeouts.get("update", f"{int(update)}s"))
    return Await(condition, create, update, source)


def _service_waits_for_pods(service: PlannedResource) -> bool:
    """Headless, ExternalName and selector-less Services are ready once they exist."""
    spec = service.get("spec") or {}
    return bool(spec.get("selector")) and spec.get("clusterIP") != "None" and spec.get("type") != "ExternalName"


def pod_template(resource: PlannedResource) -> dict[str, Any]:
    template = resource.get("spec.template") or {}
    return template if isinstance(template, dict) else {}


def _probe_window_s(probe: dict[str, Any] | None) -> float:
    """Longest a probe may take to first succeed: initialDelay + period x failureThreshold."""
    if not probe:
        return 0.0
    return float(probe.get("initialDelaySeconds", 0)) + float(probe.get("periodSeconds", 10)) * float(
        probe.get("failureThreshold", 3)
    )


def pod_ready_s(resource: PlannedResource) -> float:
    """Expected worst time from creation to a ready pod: image pull, start, the slowest container's startup
    probe window, one readiness period."""
    notes = annotations_of(resource)
    pull = float(notes.get(IMAGE_PULL_ANNOTATION, SMALL_IMAGE_PULL_S))
    containers = (pod_template(resource).get("spec") or {}).get("containers") or []
    startup = max((_probe_window_s(c.get("startupProbe")) for c in containers), default=0.0)
    readiness = max(
        (float((c.get("readinessProbe") or {}).get("periodSeconds", 10)) for c in containers), default=0.0
    )
    return pull + POD_SCHEDULE_AND_START_S + startup + readiness


def replicas(resource: PlannedResource) -> int:
    value = resource.get("spec.replicas")
    return 1 if value in (None, UNKNOWN) else int(value)


def termination_grace_s(resource: PlannedResource) -> float:
    return float((pod_template(resource).get("spec") or {}).get("terminationGracePeriodSeconds", 30))


def rollout_step(resource: PlannedResource) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as pod counts, with Kubernetes' 25%/25% defaults and rounding."""
    count = replicas(resource)
    rolling = (resource.get("spec.strategy") or {}).get("rollingUpdate") or {}

    def resolve(value: Any, round_up: bool) -> int:
        if value is None:
            value = "25%"
        if isinstance(value, str) and value.endswith("%"):
            share = count * float(value[:-1]) / 100
            return math.ceil(share) if round_up else math.floor(share)
        return int(value)

    surge, unavailable = resolve(rolling.get("maxSurge"), True), resolve(rolling.get("maxUnavailable"), False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # the API server refuses 0/0; Kubernetes' own validation
    return surge, unavailable


def expected_create_s(resource: PlannedResource) -> float:
    """Expected time from creation to ready, for an awaited resource (its own part, not its prerequisites)."""
    if resource.type in (DEPLOYMENT, STATEFUL_SET, POD):
        return pod_ready_s(resource)
    if resource.type == SERVICE:
        return SERVICE_SETTLE_S
    notes = annotations_of(resource)
    if resource.type == GATEWAY:
        return GATEWAY_PROGRAMMED_S
    if resource.type == CRD and "Established" in str(notes.get(WAIT_FOR, "")):
        return CRD_ESTABLISHED_S
    return OTHER_CONDITION_S


def expected_update_s(resource: PlannedResource) -> float:
    """A rolling update: batches of `maxUnavailable` (plus surge) pods, each batch waiting for the old pods
    to terminate when nothing surges (their GPUs are needed), then for the new ones to turn ready."""
    if resource.type != DEPLOYMENT:
        return expected_create_s(resource)
    surge, unavailable = rollout_step(resource)
    batches = math.ceil(replicas(resource) / max(surge + unavailable, 1))
    terminate = termination_grace_s(resource) if surge == 0 else 0.0
    return batches * (terminate + pod_ready_s(resource))
