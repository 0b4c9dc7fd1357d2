"""Group commit: the writes of many concurrent requests in one transaction and one commit.

A request thread hands its work to `GroupCommit.run` and waits. If no flush is under way, that
thread becomes the leader: it takes every job queued so far (its own included), runs `flush`
on them in one go, wakes their threads with their results, and passes the lead to the oldest
job still queued (which arrived during the flush). Under load, a batch gathers the jobs that
queued while the previous one was in the database, so round trips and commits are shared;
with a single request in flight, a batch is that request alone and nothing waits.

With `linger`, a leader whose previous batch held more than one job (so requests are arriving
together) first waits that long for more to queue, like PostgreSQL's commit_delay does when
commit_siblings are active. A batch's cost is mostly per batch (round trips, the commit, and on
a busy machine each wake-up of a thread that blocked), so a bigger batch is cheaper per job: a
couple of milliseconds of waiting buys back more CPU than it costs in latency. Once batches are
single jobs again (a lone request), nobody waits.

Served by gevent (gunicorn's gevent worker: every request a greenlet on one thread), waking a
waiter is cheap and a waiting leader holds nothing, so `for_this_process` runs it differently:
two batches may be in the database at once (while one waits for its commit, the next is written),
and instead of sleeping `linger` a leader lets every greenlet that can run do so first
(`gevent.idle()`, at most `linger`): the requests already read reach the queue and join the
batch, and no fixed wait is spent when nothing else is coming. With threads, a second batch in
flight cost more than it saved (each leader is one more thread contending for the GIL) and
stays off. A caller that goes away while it waits (a killed greenlet) is withdrawn from the
queue, so the lead is never handed to nobody.

`flush(jobs)` must set `result` or `error` on each job. If it raises instead, each job it left
without either is retried alone, so one job's failure is only ever that job's; a job it had
already answered keeps that answer (a flush may commit part of its batch before the rest fails,
and that part must not be written twice). Jobs whose `key` is equal
never share a batch (a later one waits for the next batch and sees the earlier one's effects).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

GREEN_FLUSHES = 2  # batches in the database at once under gevent (for_this_process)


class Job:
    __slots__ = ("error", "event", "finished", "key", "lead", "payload", "result")

    def __init__(self, payload: Any, key: Hashable | None):
        self.payload, self.key = payload, key
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = self.lead = False
        self.event = threading.Event()

    def outcome(self):
        if self.error is not None:
            raise self.error
        return self.result


class GroupCommit:
    """max_flushes batches may be in the database at once (each its own leader thread and
    transaction): while one waits for its commit, the next gathers and runs."""

    def __init__(
        self,
        flush: Callable[[list[Job]], None],
        max_batch: int = 64,
        max_flushes: int = 1,
        linger: float = 0.0,
        gather: Callable[[], None] | None = None,
    ):
        self._flush, self._max, self._max_flushes, self._linger = flush, max_batch, max_flushes, linger
        self._gather = gather or (lambda: time.sleep(linger))  # called to let more jobs queue
        self._lock = threading.Lock()
        self._flushed = threading.Condition(self._lock)  # notified whenever a batch finishes
        self._last_batch = 0
        self._queue: list[Job] = []
        self._leaders = 0
        self._in_flight: set[Hashable] = set()  # keys of the jobs in batches being flushed

    def run(self, payload: Any, key: Hashable | None = None) -> Any:
        job = Job(payload, key)
        with self._lock:
            self._queue.append(job)
            if self._leaders < self._max_flushes:
                self._leaders += 1
                job.lead = True
        while True:
            if not job.lead:
                try:
                    job.event.wait()
                except BaseException:  # the caller is gone (a killed greenlet): nobody would lead for it
                    self._withdraw(job)
                    if job.lead:
                        self._hand_over(job)
                    raise
                if not job.lead:
                    return job.outcome()
            try:
                while not job.finished:
                    if self._linger and self._last_batch > 1 and len(self._queue) < self._max:
                        self._gather()  # requests arrive together: let more of them join
                    batch = self._take()
                    if not batch:  # our job is in another leader's batch and nothing else waits
                        break
                    self._flush_safely(batch)
            except BaseException:  # flush errors land on jobs; this is the caller going away
                self._withdraw(job)
                raise
            finally:
                self._hand_over(job)
            if job.finished:
                return job.outcome()

    def _withdraw(self, job: Job) -> None:
        """Take a job whose caller is gone out of the queue, so that no leader hands it the lead."""
        with self._lock:
            if job in self._queue:
                self._queue.remove(job)

    def _hand_over(self, leader: Job) -> None:
        """Pass this leader's place to the oldest queued job not yet leading, or give it up. A leader
        whose own job is still in another leader's batch then sleeps until that batch wakes it."""
        with self._lock:
            leader.lead = False
            if not leader.finished:
                leader.event.clear()  # finishing sets it under this lock, so no wake-up is lost
            for job in self._queue:
                if not job.lead:
                    job.lead = True
                    job.event.set()
                    return
            self._leaders -= 1

    def _take(self) -> list[Job]:
        """The oldest queued jobs, at most max_batch, no two with the same key and none with the key
        of a job another leader is flushing. Waits for a flush to finish when every queued job is
        held back that way."""
        with self._lock:
            while True:
                batch, rest, keys = [], [], set()
                for job in self._queue:
                    free = job.key is None or (job.key not in keys and job.key not in self._in_flight)
                    if len(batch) < self._max and free:
                        batch.append(job)
                        if job.key is not None:
                            keys.add(job.key)
                    else:
                        rest.append(job)
                self._queue = rest
                if batch or not rest:
                    self._in_flight |= keys
                    if batch:
                        self._last_batch = len(batch)
                    return batch
                self._flushed.wait()

    def _flush_safely(self, batch: list[Job]) -> None:
        try:
            try:
                self._flush(batch)
            except Exception as exc:  # noqa: BLE001 - lands on its job, or each unanswered job is retried alone
                unanswered = [job for job in batch if job.result is None and job.error is None]
                if len(batch) == 1:
                    batch[0].result, batch[0].error = None, exc
                else:
                    for job in unanswered:
                        self._flush_alone(job)
        finally:
            with self._lock:
                for job in batch:
                    if job.result is None and job.error is None:
                        job.error = RuntimeError("group commit: the flush left this job without a result")
                    job.finished = True
                    job.event.set()
                    self._in_flight.discard(job.key)
                self._flushed.notify_all()

    def _flush_alone(self, job: Job) -> None:
        job.result = job.error = None
        try:
            self._flush([job])
        except Exception as exc:  # noqa: BLE001 - delivered to the job's own request
            job.result, job.error = None, exc


def green() -> bool:
    """True when threads are gevent greenlets (gunicorn's gevent worker monkey-patches threading)."""
    monkey = sys.modules.get("gevent.monkey")  # never imported here: only a process that uses gevent has it
    return bool(monkey and monkey.is_module_patched("threading"))


def for_this_process(flush: Callable[[list[Job]], None], linger: float) -> GroupCommit:
    """A GroupCommit suited to how this process serves requests (threads or gevent, see above)."""
    if green():
        import gevent

        def gather() -> None:
            with gevent.Timeout(linger, False):  # never longer than linger: a loop that is never idle
                gevent.idle()  # (requests arriving faster than it reads them) must not
                # hold the batch back for good

        return GroupCommit(flush, max_flushes=GREEN_FLUSHES, linger=linger, gather=gather)
    return GroupCommit(flush, linger=linger)
