"""Fixed-window rate limits per consumer and per IP: Redis when the caller passes its URL (the app's
REDIS_URL), in-process otherwise."""

from __future__ import annotations

import threading
import time

from errors import Throttled

_local: dict[str, int] = {}
_lock = threading.Lock()
_clients: dict[str, object] = {}  # Redis URL -> its client in this process
_scripts: dict[str, object] = {}  # Redis URL -> COUNT_LUA registered with its client


def _redis(url: str):
    """One client per Redis URL and process, created under a lock: threads racing on the first
    requests must not each build one and close the other's connection."""
    client = _clients.get(url)
    if client is None:
        with _lock:
            client = _clients.get(url)
            if client is None:
                from redis import Redis

                client = _clients[url] = Redis.from_url(url)
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


def _count_script(url: str):
    script = _scripts.get(url)
    if script is None:
        script = _scripts[url] = _redis(url).register_script(COUNT_LUA)
    return script


def hit(*limits: tuple[str, int], redis_url: str | None, window_seconds: int = 60) -> None:
    """Count one hit for each (name, limit); raise Throttled (429 with Retry-After) past any limit."""
    refused = hit_many([limits], redis_url, window_seconds)[0]
    if refused is not None:
        raise refused


def hit_many(
    requests: list[tuple[tuple[str, int], ...]], redis_url: str | None, window_seconds: int = 60
) -> list[Throttled | None]:
    """Count the hits of many requests in one Redis round trip: per request, None or the Throttled to answer.
    A limit of 0 is no limit."""
    now = time.time()
    window = int(now // window_seconds)
    wanted = [[(f"throttle:{name}:{window}", limit) for name, limit in limits if limit > 0] for limits in requests]
    keys = [key for limits in wanted for key, _ in limits]
    if not keys:
        return [None] * len(requests)
    if redis_url:
        counts = iter(_count_script(redis_url)(keys=keys, args=[window_seconds + 5]))
    else:
        with _lock:
            if len(_local) > 100_000:
                _local.clear()
            counted = []
            for key in keys:  # each hit sees its own count, as in Redis: not the batch's final one
                _local[key] = _local.get(key, 0) + 1
                counted.append(_local[key])
            counts = iter(counted)
    retry_after = int((window + 1) * window_seconds - now) + 1
    verdicts = []
    for limits in wanted:
        over = [next(counts) > limit for _, limit in limits]
        verdicts.append(Throttled(retry_after, f"Too many scans; try again in {retry_after} s.") if any(over) else None)
    return verdicts
