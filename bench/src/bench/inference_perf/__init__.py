"""Recipe: run kubernetes-sigs ``inference-perf`` against the local gateway, offline, with a local tokenizer."""
