"""Micro-benchmarks of single parts (the picker, the simulator), apart from the end-to-end suite in ``bench``."""
