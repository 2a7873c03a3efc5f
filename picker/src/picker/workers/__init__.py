"""Worker processes: N pickers on one ext_proc port (the supervisor accepts and deals the connections)
under a supervisor that answers health and metrics for all of them, restarts a worker that dies, and holds
the leader-election Lease."""
