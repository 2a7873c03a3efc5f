"""Load generation: the streaming chat client, per-request records, open- and closed-loop drivers."""
