"""`infgw`: the project's command line (offline plan today; the local gateway joins later)."""
