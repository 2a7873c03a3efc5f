"""Subscribing to model servers' KV-cache events and indexing which endpoint holds which prompt blocks."""
