"""Overhead mode: zero-latency replicas, so whatever latency and throughput limit remains is the router's.

``measure.py`` runs the phases, ``phases.py`` reduces one phase's records and subtracts the baseline,
``artifacts.py`` names streamed-only delays (a transport effect) so they are not read as routing cost.
"""

from bench.overhead.measure import BASELINE, measure_overhead

__all__ = ["BASELINE", "measure_overhead"]
