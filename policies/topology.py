"""What kind of gateway a stack builds, read from its resources (rules whose thresholds depend on it).

Multi-cluster: two or more clusters, a ``-mc`` GatewayClass, or a route to a GCPInferencePoolImport.
"""

from __future__ import annotations

from policies import resource_types as types
from policies.rule import Stack, known

POOL_IMPORT_KIND = "GCPInferencePoolImport"


def is_multi_cluster(stack: Stack) -> bool:
    if len(stack.of(types.CLUSTER)) >= 2:
        return True
    for gateway in stack.of(types.is_gateway):
        gateway_class = known(lambda: gateway.props.text("spec", "gatewayClassName"))
        if gateway_class and gateway_class.endswith("-mc"):
            return True
    for route in stack.of(types.is_http_route):
        kinds = known(lambda: [ref.text("kind") for rule in route.props.items("spec", "rules")
                                       for ref in rule.items("backendRefs")]) or []
        if POOL_IMPORT_KIND in kinds:
            return True
    return False


def uses_custom_metrics(stack: Stack) -> bool:
    """Whether any GCPBackendPolicy balances on custom metrics (needs the newest GKE prerequisites)."""
    for policy in stack.of(types.is_backend_policy):
        mode = known(lambda: policy.props.text("spec", "default", "balancingMode"))
        if mode == "CUSTOM_METRICS":
            return True
    return False
