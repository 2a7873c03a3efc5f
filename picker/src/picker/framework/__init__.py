"""Contracts of the scheduling framework: data types, plugin protocols and the scheduler."""
