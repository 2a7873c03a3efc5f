"""vLLM-compatible KV-cache event publishing (``--kv-events-config``): config, msgpack encoding, ZMQ."""
