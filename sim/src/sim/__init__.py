"""vLLM-compatible model-server simulator: vLLM's HTTP API and metric names over a clock-driven engine."""

__version__ = "0.1.0"
