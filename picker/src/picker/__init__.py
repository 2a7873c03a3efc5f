"""Endpoint picker for the GKE Inference Gateway: an Envoy ext_proc server that picks a model-server
replica per request (Endpoint Picker Protocol) and admits or sheds by priority."""

__version__ = "0.1.0"
