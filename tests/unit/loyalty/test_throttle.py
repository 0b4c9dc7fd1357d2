import threading

import pytest

from errors import Throttled
from loyalty import throttle


def test_threads_racing_on_first_use_share_one_redis_client(app, monkeypatch):
    """A second client would close the first one's connection under the other thread (500s)."""
    import redis

    created = []

    class FakeRedis:
        def __init__(self):
            created.append(self)

        @classmethod
        def from_url(cls, url):
            threading.Event().wait(0.01)   # widen the window a racing thread would need
            return cls()

    monkeypatch.setattr(redis, "Redis", FakeRedis)
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://example.invalid/0")
    app.extensions.pop("throttle", None)
    barrier, clients = threading.Barrier(8), []

    def first_request():
        with app.app_context():
            barrier.wait()
            clients.append(throttle._redis())

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    app.extensions.pop("throttle", None)
    assert len(created) == 1 and len({id(c) for c in clients}) == 1


def test_any_exceeded_limit_throttles_with_a_retry_after(app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    with app.app_context():
        throttle.hit(("unit-a", 2), ("unit-b", 100))
        throttle.hit(("unit-a", 2), ("unit-b", 100))
        with pytest.raises(Throttled) as caught:
            throttle.hit(("unit-a", 2), ("unit-b", 100))
    assert int(caught.value.headers["Retry-After"]) >= 1


def test_hits_counted_together_are_each_judged_by_their_own_count_without_redis(app, monkeypatch):
    """One batch of three hits against a limit of two refuses only the third (as Redis counts them),
    not all three by the batch's final count."""
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    with app.app_context():
        verdicts = throttle.hit_many([(("unit-batch", 2),)] * 3)
    assert verdicts[:2] == [None, None] and isinstance(verdicts[2], Throttled)
