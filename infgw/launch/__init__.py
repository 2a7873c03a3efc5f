"""The one way the gateway's processes are started, locally, in benchmarks and in tests: a simulated
replica (``replica_process``), a picker (``picker_process``) and Envoy (``envoy_process``), each a
``ChildProcess`` (``child_process``: own process group, log file, graceful stop then kill, restart),
ready once it announces itself (``readiness``), on ports from ``ports``; many children together in a
``ProcessSupervisor`` (``supervisor``). Import from the modules: the package imports nothing, so that a
light user does not pay for the picker's or the simulator's imports."""
