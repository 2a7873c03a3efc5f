"""The multi-cluster gateway on one machine: each region's clusters from their rendered manifests, and
a cross-region tier on Envoy standing in for Google's cross-regional internal load balancer."""
