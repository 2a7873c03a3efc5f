"""Micro-benchmarks of the endpoint picker: its cost per request and decision, and its routing behaviour in a
seeded virtual-time model. Scripts, not tests: ``python -m bench.micro.picker.<name> --help``."""
