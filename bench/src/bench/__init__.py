"""Benchmarks for the inference gateway: seeded workloads, load drivers and side-by-side reports."""

__version__ = "0.1.0"
