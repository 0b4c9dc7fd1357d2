"""Fixed-window rate limits per consumer and per IP: Redis when configured, in-process otherwise."""
from __future__ import annotations

import threading
import time

from flask import current_app

from errors import Throttled

_local: dict[str, int] = {}
_lock = threading.Lock()


def _redis():
    """One client per app and process, created under a lock: threads racing on the first requests
    must not each build one and close the other's connection."""
    state = current_app.extensions.setdefault("throttle", {})
    client = state.get("redis")
    if client is None:
        with _lock:
            client = state.get("redis")
            if client is None:
                from redis import Redis

                client = state["redis"] = Redis.from_url(current_app.config["REDIS_URL"])
    return client


def hit(*limits: tuple[str, int], window_seconds: int = 60) -> None:
    """Count one hit for each (name, limit); raise Throttled (429 with Retry-After) past any limit."""
    limits = tuple((name, limit) for name, limit in limits if limit > 0)
    if not limits:
        return
    now = time.time()
    window = int(now // window_seconds)
    keys = [f"throttle:{name}:{window}" for name, _ in limits]
    if current_app.config.get("REDIS_URL"):
        pipe = _redis().pipeline(transaction=False)
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, window_seconds + 5)
        counts = pipe.execute()[::2]
    else:
        with _lock:
            if len(_local) > 100_000:
                _local.clear()
            counts = []
            for key in keys:
                _local[key] = _local.get(key, 0) + 1
                counts.append(_local[key])
    if any(count > limit for count, (_, limit) in zip(counts, limits)):
        retry_after = int((window + 1) * window_seconds - now) + 1
        raise Throttled(retry_after, f"Too many scans; try again in {retry_after} s.")
