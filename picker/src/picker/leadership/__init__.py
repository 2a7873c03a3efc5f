"""Leader election over a Kubernetes Lease: one picker replica serves, the others stand by warm."""
