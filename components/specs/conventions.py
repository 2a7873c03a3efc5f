"""Names, annotations and budgets every cluster's gateway objects share."""

from __future__ import annotations

from typing import Literal

import pulumi

Topology = Literal["single", "multi"]
RBAC_GROUP = "rbac.authorization.k8s.io"
# The ServiceAccount whose token Managed Prometheus' collector presents to the pickers' /metrics.
METRICS_READER = "inference-gateway-sa-metrics-reader"
METRICS_READER_SECRET = f"{METRICS_READER}-secret"
# pulumi-kubernetes' custom readiness condition (>= 4.18), replacing "no wait" for kinds it does not know.
WAIT_FOR = "pulumi.com/waitFor"
# GKE provisions the load balancer behind a Gateway; an address shows once it is programmed.
GATEWAY_ADDRESS_WAIT = "jsonpath={.status.addresses[0].value}"
GATEWAY_TIMEOUT = pulumi.CustomTimeouts(create="20m", update="20m")
