"""Fixed-window rate limits per consumer and per IP: Redis when the caller passes its URL (the app's
REDIS_URL), in-process otherwise.

A throttle protects, it does not decide: a code is claimed and rewarded once by the database, with
or without it. So when Redis is down or does not answer within its timeout (REDIS_TIMEOUT_MS), the
hits are counted in this process instead, and Redis is tried again after jobs.REDIS_RETRY_SECONDS.
Meanwhile each server process limits on its own (a consumer spreading scans over N processes gets
up to N times the limit), and the counts start afresh when Redis is back.
"""

from __future__ import annotations

import logging
import threading
import time

from redis.exceptions import RedisError

import jobs
from errors import Throttled

log = logging.getLogger(__name__)

_local: dict[str, int] = {}
_lock = threading.Lock()
_scripts: dict[tuple[str, int], object] = {}  # (Redis URL, timeout) -> COUNT_LUA registered with its client

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


def _count_script(url: str, timeout_ms: int):
    script = _scripts.get((url, timeout_ms))
    if script is None:
        script = _scripts[(url, timeout_ms)] = jobs.redis_client(url, timeout_ms).register_script(COUNT_LUA)
    return script


def hit(*limits: tuple[str, int], redis_url: str | None, window_seconds: int = 60, redis_timeout_ms: int = 300) -> None:
    """Count one hit for each (name, limit); raise Throttled (429 with Retry-After) past any limit."""
    refused = hit_many([limits], redis_url, window_seconds, redis_timeout_ms)[0]
    if refused is not None:
        raise refused


def hit_many(
    requests: list[tuple[tuple[str, int], ...]],
    redis_url: str | None,
    window_seconds: int = 60,
    redis_timeout_ms: int = 300,
) -> list[Throttled | None]:
    """Count the hits of many requests in one Redis round trip: per request, None or the Throttled to answer.
    A limit of 0 is no limit. Redis unavailable: counted in this process (see the module's note)."""
    now = time.time()
    window = int(now // window_seconds)
    wanted = [[(f"throttle:{name}:{window}", limit) for name, limit in limits if limit > 0] for limits in requests]
    keys = [key for limits in wanted for key, _ in limits]
    if not keys:
        return [None] * len(requests)
    counts = None
    if redis_url and jobs.redis_usable(redis_url):
        try:
            counts = iter(_count_script(redis_url, redis_timeout_ms)(keys=keys, args=[window_seconds + 5]))
        except RedisError as error:
            jobs.redis_failed(redis_url, error)
        else:
            jobs.redis_ok(redis_url)
    if counts is None:
        counts = iter(_count_locally(keys))
    retry_after = int((window + 1) * window_seconds - now) + 1
    verdicts = []
    for limits in wanted:
        over = [next(counts) > limit for _, limit in limits]
        verdicts.append(Throttled(retry_after, f"Too many scans; try again in {retry_after} s.") if any(over) else None)
    return verdicts


def _count_locally(keys: list[str]) -> list[int]:
    with _lock:
        if len(_local) > 100_000:
            _local.clear()
        counted = []
        for key in keys:  # each hit sees its own count, as in Redis: not the batch's final one
            _local[key] = _local.get(key, 0) + 1
            counted.append(_local[key])
        return counted
