"""Turning a request into the token ids its model server will see (for precise prefix-cache matching)."""
