"""The HTTP face of the simulator: vLLM's OpenAI-compatible routes, errors and SSE streaming (aiohttp)."""
