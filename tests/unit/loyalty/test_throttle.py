import threading

import pytest

import jobs
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
        def from_url(cls, url, **timeouts):
            threading.Event().wait(0.01)  # widen the window a racing thread would need
            return cls()

    monkeypatch.setattr(redis, "Redis", FakeRedis)
    monkeypatch.setattr(jobs, "_clients", {})
    barrier, clients = threading.Barrier(8), []

    def first_request():
        barrier.wait()
        clients.append(jobs.redis_client("redis://example.invalid/0", 300))

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1 and len({id(c) for c in clients}) == 1


def test_redis_clients_give_up_after_the_configured_timeout_once():
    client = jobs.redis_client("redis://127.0.0.1:1/0", 250)
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.25
    assert kwargs["retry"].get_retries() == 0


def test_an_unreachable_redis_is_skipped_and_hits_are_counted_in_process(monkeypatch):
    """Nothing listens on port 1: the first hit finds Redis unusable, counts in-process and still
    limits; the next hits do not try Redis again until REDIS_RETRY_SECONDS have passed."""
    url = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(jobs, "_down_until", {})
    tried = []
    real = throttle._count_script
    monkeypatch.setattr(throttle, "_count_script", lambda *a: tried.append(a) or real(*a))

    verdicts = [throttle.hit_many([(("unit-down", 2),)], redis_url=url)[0] for _ in range(3)]

    assert verdicts[:2] == [None, None] and isinstance(verdicts[2], Throttled)
    assert len(tried) == 1 and not jobs.redis_usable(url)


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
