"""Worker processes: N pickers on one ext_proc port (SO_REUSEPORT) under a supervisor that answers health
and metrics for all of them, restarts a worker that dies, and holds the leader-election Lease."""
