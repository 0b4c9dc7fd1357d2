import threading

import pytest

from errors import Throttled
from loyalty import throttle


def test_threads_racing_on_first_use_share_one_redis_client(monkeypatch):
    """A second client would close the first one's connection under the other thread (500s)."""
    import redis

    created = []

    class FakeRedis:
        def __init__(self):
            created.append(self)

        @classmethod
        def from_url(cls, url):
            threading.Event().wait(0.01)  # widen the window a racing thread would need
            return cls()

    monkeypatch.setattr(redis, "Redis", FakeRedis)
    monkeypatch.setattr(throttle, "_clients", {})
    barrier, clients = threading.Barrier(8), []

    def first_request():
        barrier.wait()
        clients.append(throttle._redis("redis://example.invalid/0"))

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1 and len({id(c) for c in clients}) == 1


def test_any_exceeded_limit_throttles_with_a_retry_after():
    throttle.hit(("unit-a", 2), ("unit-b", 100), redis_url=None)
    throttle.hit(("unit-a", 2), ("unit-b", 100), redis_url=None)
    with pytest.raises(Throttled) as caught:
        throttle.hit(("unit-a", 2), ("unit-b", 100), redis_url=None)
    assert int(caught.value.headers["Retry-After"]) >= 1


def test_hits_counted_together_are_each_judged_by_their_own_count_without_redis():
    """One batch of three hits against a limit of two refuses only the third (as Redis counts them),
    not all three by the batch's final count."""
    verdicts = throttle.hit_many([(("unit-batch", 2),)] * 3, redis_url=None)
    assert verdicts[:2] == [None, None] and isinstance(verdicts[2], Throttled)
