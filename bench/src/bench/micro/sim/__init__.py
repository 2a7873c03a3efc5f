"""Micro-benchmarks of the vLLM-compatible simulator: simulated time against wall time, and its HTTP cost
against a bare aiohttp server. ``python -m bench.micro.sim.<name> --help``."""
