"""The local gateway (`infgw local`): a stack's pools served by simulated replicas, pickers and Envoy."""
