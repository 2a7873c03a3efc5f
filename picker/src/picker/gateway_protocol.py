"""Header and metadata names of the Endpoint Picker Protocol, spelled once.

Values match the Gateway API Inference Extension's ``pkg/epp/metadata`` constants so any gateway that
speaks the protocol (GKE, Istio, plain Envoy) interoperates with the picker.
"""

from __future__ import annotations

# The picker's answer: the chosen endpoint(s), "ip:port[,ip:port...]", in a request header ...
DESTINATION_ENDPOINT_HEADER = "x-gateway-destination-endpoint"
# ... and, with the same value, in dynamic metadata under this namespace and key.
DESTINATION_ENDPOINT_NAMESPACE = "envoy.lb"
DESTINATION_ENDPOINT_KEY = DESTINATION_ENDPOINT_HEADER

# The data plane may restrict candidates (metadata_context namespace + key, value: list of "ip:port").
SUBSET_HINT_NAMESPACE = "envoy.lb.subset_hint"
SUBSET_HINT_KEY = "x-gateway-destination-endpoint-subset"

# The data plane reports which endpoint actually served the response (protocol v1.0.0).
SERVED_ENDPOINT_NAMESPACE = "envoy.lb"
SERVED_ENDPOINT_KEY = "x-gateway-destination-endpoint-served"

# Control headers a client may send; the picker reads them and removes them before forwarding. Each has
# llm-d-router v0.10's name first and GIE v1.1's (v0.10's deprecated alias) after it: the first one present
# wins, as v0.10's metadata.GetLowerCaseHeaderValue reads them.
OBJECTIVE_HEADERS = ("x-llm-d-inference-objective", "x-gateway-inference-objective")
MODEL_NAME_REWRITE_HEADERS = ("x-llm-d-model-name-rewrite", "x-gateway-model-name-rewrite")
FAIRNESS_ID_HEADERS = ("x-llm-d-inference-fairness-id", "x-gateway-inference-fairness-id")
CONTROL_HEADERS: frozenset[str] = frozenset(
    {*OBJECTIVE_HEADERS, *MODEL_NAME_REWRITE_HEADERS, *FAIRNESS_ID_HEADERS}
)

REQUEST_ID_HEADER = "x-request-id"
DEFAULT_FAIRNESS_ID = "default-flow"

# Envoy refuses body chunks over 64 KiB from a processor; the EPP sends at most this many bytes per chunk.
MAX_BODY_CHUNK_BYTES = 62_000
