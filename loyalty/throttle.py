"""Fixed-window rate limits per consumer and per IP: Redis when configured, in-process otherwise."""
from __future__ import annotations

import threading
import time

from flask import current_app

from errors import Throttled

_local: dict[str, int] = {}
_lock = threading.Lock()


def _redis():
    state = current_app.extensions.setdefault("throttle", {})
    if "redis" not in state:
        from redis import Redis

        state["redis"] = Redis.from_url(current_app.config["REDIS_URL"])
    return state["redis"]


def hit(name: str, limit: int, window_seconds: int = 60) -> None:
    """Count one hit for `name`; raise Throttled (429 with Retry-After) past `limit` in the window."""
    if limit <= 0:
        return
    now = time.time()
    window = int(now // window_seconds)
    key = f"throttle:{name}:{window}"
    if current_app.config.get("REDIS_URL"):
        pipe = _redis().pipeline()
        pipe.incr(key)
        pipe.expire(key, window_seconds + 5)
        count = pipe.execute()[0]
    else:
        with _lock:
            if len(_local) > 100_000:
                _local.clear()
            count = _local[key] = _local.get(key, 0) + 1
    if count > limit:
        retry_after = int((window + 1) * window_seconds - now) + 1
        raise Throttled(retry_after, f"Too many scans; try again in {retry_after} s.")
