"""Soak and reliability figures for the local gateway: `python -m bench.soak` (the soak) and
`python -m bench.soak.figures` (replica loss and overload figures for docs/reliability.md)."""
