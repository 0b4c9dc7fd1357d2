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


# INCR every key, setting the expiry of the ones this call created: one EVALSHA for a whole batch.
COUNT_LUA = """
local counts = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, ARGV[1]) end
  counts[i] = n
end
return counts
"""


def _count_script():
    state = current_app.extensions.setdefault("throttle", {})
    script = state.get("script")
    if script is None:
        script = state["script"] = _redis().register_script(COUNT_LUA)
    return script


def hit(*limits: tuple[str, int], window_seconds: int = 60) -> None:
    """Count one hit for each (name, limit); raise Throttled (429 with Retry-After) past any limit."""
    refused = hit_many([limits], window_seconds)[0]
    if refused is not None:
        raise refused


def hit_many(requests: list[tuple[tuple[str, int], ...]], window_seconds: int = 60) -> list[Throttled | None]:
    """Count the hits of many requests in one Redis round trip: per request, None or the Throttled to answer."""
    now = time.time()
    window = int(now // window_seconds)
    wanted = [[(f"throttle:{name}:{window}", limit) for name, limit in limits if limit > 0] for limits in requests]
    keys = [key for limits in wanted for key, _ in limits]
    if not keys:
        return [None] * len(requests)
    if current_app.config.get("REDIS_URL"):
        counts = iter(_count_script()(keys=keys, args=[window_seconds + 5]))
    else:
        with _lock:
            if len(_local) > 100_000:
                _local.clear()
            counted = []
            for key in keys:   # each hit sees its own count, as in Redis: not the batch's final one
                _local[key] = _local.get(key, 0) + 1
                counted.append(_local[key])
            counts = iter(counted)
    retry_after = int((window + 1) * window_seconds - now) + 1
    verdicts = []
    for limits in wanted:
        over = [next(counts) > limit for _, limit in limits]
        verdicts.append(Throttled(retry_after, f"Too many scans; try again in {retry_after} s.") if any(over) else None)
    return verdicts
