"""groupcommit.GroupCommit with real threads: batching, keys, failures, leadership handover.

Every thread is a daemon joined with a timeout, so a lost wake-up fails the test instead of hanging it.
"""

from __future__ import annotations

import threading
import time

import pytest

from loyalty.scanning.groupcommit import GroupCommit
from tests.green import run_under_gevent

TIMEOUT = 10


class Recorder:
    """A flush that records each batch's payloads and keys and answers payload -> ("done", payload).

    With `hold_first`, the very first flush call blocks until `release()`, so a test can queue jobs
    deterministically behind a leader that is "in the database"."""

    def __init__(self, delay: float = 0.0, hold_first: bool = False, fail_on=None, forget=None):
        self.delay, self.fail_on, self.forget = delay, fail_on, forget
        self.batches: list[list] = []
        self.keys: list[list] = []
        self.lock = threading.Lock()
        self.in_flush = 0
        self.max_in_flush = 0
        self._hold = threading.Event() if hold_first else None
        self.holding = threading.Event()

    def release(self):
        self._hold.set()

    def __call__(self, jobs):
        with self.lock:
            first = not self.batches
            self.batches.append([job.payload for job in jobs])
            self.keys.append([job.key for job in jobs])
            self.in_flush += 1
            self.max_in_flush = max(self.max_in_flush, self.in_flush)
        try:
            if first and self._hold is not None:
                self.holding.set()
                assert self._hold.wait(TIMEOUT), "test never released the first flush"
            if self.delay:
                time.sleep(self.delay)
            if self.fail_on is not None and any(job.payload == self.fail_on for job in jobs):
                raise ValueError(f"flush failed on {self.fail_on!r}")
            for job in jobs:
                if job.payload != self.forget:
                    job.result = ("done", job.payload)
        finally:
            with self.lock:
                self.in_flush -= 1


class Caller:
    """One thread calling gc.run(payload, key); keeps its result or exception."""

    def __init__(self, gc: GroupCommit, payload, key=None, barrier: threading.Barrier | None = None):
        self.gc, self.payload, self.key, self.barrier = gc, payload, key, barrier
        self.result = self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        if self.barrier is not None:
            self.barrier.wait(TIMEOUT)
        try:
            self.result = self.gc.run(self.payload, key=self.key)
        except BaseException as exc:  # noqa: BLE001 - inspected by the test
            self.error = exc

    def start(self):
        self.thread.start()
        return self


def join_all(callers, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    for c in callers:
        c.thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [c.payload for c in callers if c.thread.is_alive()]
    assert not stuck, f"run() never returned for {stuck} (lost wake-up or deadlock)"


def wait_until(predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.001)


def queued(gc: GroupCommit) -> int:
    with gc._lock:
        return len(gc._queue)


def hold_leader(gc: GroupCommit, flush: Recorder, payload="leader", key=None) -> Caller:
    """Start a leader whose flush blocks, so that later callers queue up behind it."""
    leader = Caller(gc, payload, key).start()
    assert flush.holding.wait(TIMEOUT), "the leader never started its flush"
    return leader


def queue_behind(gc: GroupCommit, items) -> list[Caller]:
    """Start callers one at a time, each queued before the next, so their queue order is known."""
    callers = []
    for payload, key in items:
        before = queued(gc)
        callers.append(Caller(gc, payload, key).start())
        wait_until(lambda before=before: queued(gc) == before + 1)
    return callers


def test_concurrent_runs_each_get_their_own_result_and_share_flush_calls():
    flush = Recorder(delay=0.02)
    gc = GroupCommit(flush)
    barrier = threading.Barrier(24)
    callers = [Caller(gc, i, barrier=barrier).start() for i in range(24)]
    join_all(callers)

    assert [c.error for c in callers] == [None] * 24
    assert [c.result for c in callers] == [("done", i) for i in range(24)]
    sizes = [len(b) for b in flush.batches]
    assert sum(sizes) == 24, "every job is flushed exactly once"
    assert sorted(p for b in flush.batches for p in b) == list(range(24))
    assert max(sizes) > 1, f"no batch was shared: {sizes}"
    assert len(flush.batches) < 24
    assert flush.max_in_flush == 1, "two flushes ran at the same time"


def test_a_lone_run_is_flushed_at_once_in_a_batch_of_its_own():
    flush = Recorder()
    gc = GroupCommit(flush)
    assert gc.run("only") == ("done", "only")
    assert flush.batches == [["only"]]


def test_jobs_with_the_same_key_never_share_a_batch():
    flush = Recorder(delay=0.01)
    gc = GroupCommit(flush)
    barrier = threading.Barrier(30)
    callers = [Caller(gc, i, key=f"serial-{i % 3}", barrier=barrier).start() for i in range(30)]
    join_all(callers)

    assert [c.result for c in callers] == [("done", i) for i in range(30)]
    for keys in flush.keys:
        assert len(keys) == len(set(keys)), f"a batch held one key twice: {keys}"
    assert sum(len(k) for k in flush.keys) == 30


def test_same_key_jobs_queued_together_are_split_in_arrival_order_while_unkeyed_jobs_join_the_first_batch():
    flush = Recorder(hold_first=True)
    gc = GroupCommit(flush)
    leader = hold_leader(gc, flush)
    callers = queue_behind(gc, [("a1", "A"), ("b1", "B"), ("a2", "A"), ("n1", None), ("a3", "A"), ("n2", None)])
    flush.release()
    join_all([leader] + callers)

    assert flush.batches == [["leader"], ["a1", "b1", "n1", "n2"], ["a2"], ["a3"]]
    assert [c.result for c in callers] == [("done", c.payload) for c in callers]


def test_a_failing_batch_is_retried_job_by_job_and_only_the_bad_job_gets_the_exception():
    flush = Recorder(hold_first=True, fail_on="bad")
    gc = GroupCommit(flush)
    leader = hold_leader(gc, flush)
    callers = queue_behind(gc, [("ok0", None), ("bad", None), ("ok1", None), ("ok2", None)])
    flush.release()
    join_all([leader] + callers)

    assert flush.batches == [["leader"], ["ok0", "bad", "ok1", "ok2"], ["ok0"], ["bad"], ["ok1"], ["ok2"]]
    by_payload = {c.payload: c for c in callers}
    assert isinstance(by_payload["bad"].error, ValueError) and by_payload["bad"].result is None
    for name in ("ok0", "ok1", "ok2"):
        assert by_payload[name].error is None and by_payload[name].result == ("done", name)
    assert leader.result == ("done", "leader")


def test_jobs_a_failing_flush_had_already_answered_keep_their_answer_and_only_the_rest_are_retried():
    """A flush that commits part of its batch and then fails on the rest: the part it committed
    must not be flushed again (it would be written twice)."""
    batches = []

    def flush(jobs):
        batches.append([job.payload for job in jobs])
        if len(jobs) > 1:
            jobs[0].result = ("committed", jobs[0].payload)
            jobs[1].error = LookupError("refused before the failure")
            raise RuntimeError("the rest failed")
        jobs[0].result = ("done", jobs[0].payload)

    gc = GroupCommit(flush)
    holder = Recorder(hold_first=True)
    gc._flush = lambda jobs: holder(jobs) if not holder.batches else flush(jobs)
    leader = hold_leader(gc, holder)
    callers = queue_behind(gc, [("a", None), ("b", None), ("c", None), ("d", None)])
    holder.release()
    join_all([leader] + callers)

    assert batches == [["a", "b", "c", "d"], ["c"], ["d"]]
    results = {c.payload: (c.result, type(c.error).__name__ if c.error else None) for c in callers}
    assert results == {
        "a": (("committed", "a"), None),
        "b": (None, "LookupError"),
        "c": (("done", "c"), None),
        "d": (("done", "d"), None),
    }


def test_a_failing_flush_of_a_single_job_raises_in_that_caller_and_the_next_run_still_works():
    flush = Recorder(fail_on="bad")
    gc = GroupCommit(flush)
    with pytest.raises(ValueError, match="bad"):
        gc.run("bad")
    assert gc.run("good") == ("done", "good")


def test_a_job_the_flush_leaves_without_result_or_error_gets_a_runtime_error_not_a_hang():
    flush = Recorder(hold_first=True, forget="forgotten")
    gc = GroupCommit(flush)
    leader = hold_leader(gc, flush)
    callers = queue_behind(gc, [("x", None), ("forgotten", None), ("y", None)])
    flush.release()
    join_all([leader] + callers)

    by_payload = {c.payload: c for c in callers}
    assert isinstance(by_payload["forgotten"].error, RuntimeError)
    assert "without a result" in str(by_payload["forgotten"].error)
    assert by_payload["x"].result == ("done", "x") and by_payload["y"].result == ("done", "y")
    with pytest.raises(RuntimeError):
        gc.run("forgotten")  # also when it is the leader's own job


def test_leadership_passes_on_after_a_burst_and_a_later_lone_run_completes():
    flush = Recorder(delay=0.005)
    gc = GroupCommit(flush, max_batch=4)
    for round_ in range(3):
        barrier = threading.Barrier(20)
        callers = [Caller(gc, (round_, i), barrier=barrier).start() for i in range(20)]
        join_all(callers)
        assert [c.result for c in callers] == [("done", (round_, i)) for i in range(20)]
        assert gc._leaders == 0 and queued(gc) == 0, "the lead was not released after the burst"

        late = Caller(gc, ("late", round_)).start()
        join_all([late])
        assert late.result == ("done", ("late", round_)), "a run after the burst did not complete"
    assert flush.max_in_flush == 1


def test_the_lead_passes_to_the_oldest_waiting_job_when_the_leaders_job_is_done():
    flush = Recorder(hold_first=True)
    gc = GroupCommit(flush, max_batch=2)
    leader = hold_leader(gc, flush)
    callers = queue_behind(gc, [(i, None) for i in range(5)])
    flush.release()
    join_all([leader] + callers)
    # the leader flushed only its own job; the waiting ones were flushed by the next leaders, oldest first
    assert flush.batches == [["leader"], [0, 1], [2, 3], [4]]
    assert [c.result for c in callers] == [("done", i) for i in range(5)]


def test_max_batch_is_honoured():
    flush = Recorder(hold_first=True)
    gc = GroupCommit(flush, max_batch=3)
    leader = hold_leader(gc, flush)
    callers = queue_behind(gc, [(i, None) for i in range(10)])
    flush.release()
    join_all([leader] + callers)

    sizes = [len(b) for b in flush.batches]
    assert max(sizes) == 3, sizes
    assert sum(sizes) == 11
    assert flush.batches[1:] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]

    flush2 = Recorder(delay=0.01)
    gc2 = GroupCommit(flush2, max_batch=2)
    barrier = threading.Barrier(16)
    racers = [Caller(gc2, i, barrier=barrier).start() for i in range(16)]
    join_all(racers)
    assert all(len(b) <= 2 for b in flush2.batches), flush2.batches
    assert [c.result for c in racers] == [("done", i) for i in range(16)]


def test_with_two_flushes_allowed_batches_overlap_but_never_share_a_key_in_flight():
    """max_flushes=2: a second leader flushes while the first is in the database, and a job whose key
    is being flushed by one leader waits for that batch instead of racing it in the other."""
    lock = threading.Lock()
    in_flight: list[set] = []
    overlaps, clashes = [0], []

    def flush(jobs):
        keys = {job.key for job in jobs if job.key is not None}
        with lock:
            for other in in_flight:
                overlaps[0] += 1
                if other & keys:
                    clashes.append((sorted(other), sorted(keys)))
            in_flight.append(keys)
        time.sleep(0.01)
        with lock:
            in_flight.remove(keys)
        for job in jobs:
            job.result = ("done", job.payload)

    gc = GroupCommit(flush, max_flushes=2)
    results = {}

    def caller(i):
        results[i] = gc.run(i, key=f"k{i % 3}")

    threads = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not [t for t in threads if t.is_alive()], "a caller never returned"
    assert results == {i: ("done", i) for i in range(30)}
    assert overlaps[0] > 0, "two batches were never in flight at once"
    assert clashes == []
    assert gc._leaders == 0 and gc._in_flight == set()


def test_a_leader_whose_job_another_leader_is_flushing_sleeps_instead_of_spinning():
    """max_flushes=2: when a second leader finds its own job already in the first leader's batch and
    nothing else queued, it gives up the lead and waits. Spinning on the empty queue would burn the
    CPU (and the GIL) the first leader needs: counted here as calls to _take."""
    takes = [0]

    class Counting(GroupCommit):
        def _take(self):
            takes[0] += 1
            return super()._take()

    batches = []

    def flush(jobs):
        batches.append(len(jobs))
        time.sleep(0.02)  # "in the database"
        for job in jobs:
            job.result = ("done", job.payload)

    gc = Counting(flush, max_flushes=2)
    barrier = threading.Barrier(24)
    racers = [Caller(gc, i, barrier=barrier).start() for i in range(24)]
    join_all(racers)
    assert [c.result for c in racers] == [("done", i) for i in range(24)]
    flushes = len(batches)
    # Each leader takes once per batch, plus once more when it finds nothing left to lead.
    assert takes[0] <= 2 * flushes + 24, (takes[0], flushes)
    assert gc._leaders == 0 and gc._queue == []


def test_under_load_a_leader_lingers_so_that_jobs_arriving_meanwhile_join_its_batch_and_a_lone_job_never_waits(
    monkeypatch,
):
    """linger: after a batch of more than one job, the next leader waits (here a fake sleep, during
    which three more callers queue) and takes them all in one batch; once batches are single again,
    nobody waits."""
    from loyalty.scanning import groupcommit

    flush = Recorder(hold_first=True)
    gc = GroupCommit(flush, linger=0.5)
    sleeps, joined = [], []
    real_sleep = time.sleep

    def fake_sleep(seconds):
        if seconds != 0.5:  # the test's own polling
            return real_sleep(seconds)
        sleeps.append(seconds)
        if len(sleeps) == 1:  # three callers arrive while the leader lingers
            joined.extend(queue_behind(gc, [("d", None), ("e", None), ("f", None)]))

    monkeypatch.setattr(groupcommit.time, "sleep", fake_sleep)
    leader = hold_leader(gc, flush, payload="a")
    behind = queue_behind(gc, [("b", None), ("c", None)])
    flush.release()
    join_all([leader, *behind])
    assert flush.batches == [["a"], ["b", "c"]] and sleeps == []  # no batch of two had happened before

    join_all([Caller(gc, "g").start()])
    join_all(joined)
    assert flush.batches[2] == ["g", "d", "e", "f"] and sleeps == [0.5]

    lone = [Caller(gc, "h").start()]
    join_all(lone)
    lone.append(Caller(gc, "i").start())
    join_all(lone)
    assert flush.batches[3:] == [["h"], ["i"]]
    assert sleeps == [0.5, 0.5], "h lingered once after the batch of four; i, after a batch of one, did not"
    assert gc._leaders == 0 and gc._queue == []


_GREEN_SCRIPT = r"""
import json, time, gevent
from loyalty.scanning import groupcommit

assert groupcommit.green()
in_flush = [0, 0]   # now, most at once
batches = []
keys_in_flight = set()
shared_keys = []   # keys a batch held while another batch in flight held them too

def flush(jobs):
    in_flush[0] += 1
    in_flush[1] = max(in_flush[1], in_flush[0])
    keys = {job.key for job in jobs}
    shared_keys.extend(keys & keys_in_flight)
    keys_in_flight.update(keys)
    batches.append([job.payload for job in jobs])
    time.sleep(0.01)   # "in the database": the other greenlets run meanwhile
    for job in jobs:
        job.result = ("done", job.payload)
    keys_in_flight.difference_update(keys)
    in_flush[0] -= 1

gc = groupcommit.for_this_process(flush, linger=0.002)
callers = [gevent.spawn(gc.run, i, key=i % 30) for i in range(60)]   # keys 0..29 twice each
gevent.joinall(callers, timeout=20)
print(json.dumps({"results": [c.value for c in callers], "batches": batches, "most_in_flush": in_flush[1],
                  "shared_keys": shared_keys,
                  "max_flushes": gc._max_flushes, "leaders": gc._leaders}))
"""


def test_under_gevent_two_batches_are_in_flight_at_once_and_greenlets_join_them_without_a_fixed_wait():
    """for_this_process in a gevent-patched process: every greenlet gets its own answer, batches hold
    many jobs, a second batch is flushed while the first waits, and no batch repeats a key."""
    from loyalty.scanning import groupcommit

    assert not groupcommit.green() and groupcommit.for_this_process(Recorder(), 0.002)._max_flushes == 1
    got = run_under_gevent(_GREEN_SCRIPT)
    assert got["results"] == [["done", i] for i in range(60)]
    assert got["max_flushes"] == groupcommit.GREEN_FLUSHES == 2 and got["most_in_flush"] == 2
    assert max(len(b) for b in got["batches"]) > 10, got["batches"]
    for batch in got["batches"]:
        keys = [p % 30 for p in batch]
        assert len(keys) == len(set(keys)), f"two jobs with one key in a batch: {batch}"
    assert got["shared_keys"] == [], "two batches in flight at once held scans of one code"
    assert sorted(p for b in got["batches"] for p in b) == list(range(60)) and got["leaders"] == 0


_BUSY_LOOP_SCRIPT = r"""
import json, time, gevent
from loyalty.scanning import groupcommit

def flush(jobs):
    time.sleep(0.001)
    for job in jobs:
        job.result = job.payload

gc = groupcommit.for_this_process(flush, linger=0.002)
first = [gevent.spawn(gc.run, i) for i in range(6)]
gevent.joinall(first, timeout=5)
assert gc._last_batch > 1   # so the next leader gathers before it flushes
stop = []

def busy():   # requests arriving without pause: the loop always has something ready
    while not stop:
        gevent.sleep(0)

gevent.spawn(busy)
second = [gevent.spawn(gc.run, i) for i in range(6, 12)]
gevent.joinall(second, timeout=5)
stop.append(True)
print(json.dumps([g.value for g in first + second]))
"""


def test_under_gevent_a_loop_that_is_never_idle_delays_a_batch_by_linger_at_most_instead_of_starving_it():
    assert run_under_gevent(_BUSY_LOOP_SCRIPT) == list(range(12)), "a batch never flushed under a busy loop"


_KILLED_SCRIPT = r"""
import json, gevent
from gevent.event import Event
from loyalty.scanning.groupcommit import GroupCommit

hold = Event()
batches = []

def flush(jobs):
    batches.append([job.payload for job in jobs])
    if len(batches) == 1:
        hold.wait()   # the first batch stays "in the database" until released
    for job in jobs:
        job.result = job.payload

gc = GroupCommit(flush)
first = gevent.spawn(gc.run, "a")
gevent.sleep(0)                      # a leads and holds its flush
gone = gevent.spawn(gc.run, "b")     # queued: next in line for the lead
gevent.sleep(0)
last = gevent.spawn(gc.run, "c")
gevent.sleep(0)
gone.kill()                          # b's caller goes away while it waits
hold.set()
gevent.joinall([first, last], timeout=5)
print(json.dumps({"a": first.value, "c": last.value, "batches": batches, "leaders": gc._leaders,
                  "queued": len(gc._queue)}))
"""


def test_a_waiting_caller_killed_in_line_for_the_lead_does_not_stall_the_jobs_behind_it():
    """A greenlet killed while its job waits is withdrawn: the lead goes to the next job instead of to
    a caller that will never take it (which would stall every later scan of the worker)."""
    got = run_under_gevent(_KILLED_SCRIPT)
    assert (got["a"], got["c"]) == ("a", "c"), got
    assert got["batches"] == [["a"], ["c"]] and got["leaders"] == 0 and got["queued"] == 0, got
