"""What a worker tells its supervisor, one JSON object per line on an inherited pipe."""

from __future__ import annotations

# {"event": "serving", "pid": 123, "health": <port>, "metrics": <port>}: bound and serving.
SERVING = "serving"
# {"event": "ready", "ready": true|false}: its readiness (synced with the pool) changed.
READY = "ready"
