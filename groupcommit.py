"""Group commit: the writes of many concurrent requests in one transaction and one commit.

A request thread hands its work to `GroupCommit.run` and waits. If no flush is under way, that
thread becomes the leader: it takes every job queued so far (its own included), runs `flush`
on them in one go, wakes their threads with their results, and passes the lead to the oldest
job still queued (which arrived during the flush). Under load, a batch gathers the jobs that
queued while the previous one was in the database, so round trips and commits are shared;
with a single request in flight, a batch is that request alone and nothing waits.

`flush(jobs)` must set `result` or `error` on each job. If it raises instead, each job of the
batch is retried alone, so one job's failure is only ever that job's. Jobs whose `key` is equal
never share a batch (a later one waits for the next batch and sees the earlier one's effects).
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Hashable


class Job:
    __slots__ = ("payload", "key", "result", "error", "finished", "lead", "event")

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
    def __init__(self, flush: Callable[[list[Job]], None], max_batch: int = 64):
        self._flush, self._max = flush, max_batch
        self._lock = threading.Lock()
        self._queue: list[Job] = []
        self._busy = False

    def run(self, payload: Any, key: Hashable | None = None) -> Any:
        job = Job(payload, key)
        with self._lock:
            self._queue.append(job)
            leading = not self._busy
            self._busy = True
        if not leading:
            job.event.wait()
            if not job.lead:
                return job.outcome()
        try:
            while not job.finished:
                self._flush_safely(self._take())
        finally:
            self._hand_over()
        return job.outcome()

    def _take(self) -> list[Job]:
        """The oldest queued jobs, at most max_batch, no two with the same key."""
        with self._lock:
            batch, rest, keys = [], [], set()
            for job in self._queue:
                if len(batch) < self._max and (job.key is None or job.key not in keys):
                    batch.append(job)
                    if job.key is not None:
                        keys.add(job.key)
                else:
                    rest.append(job)
            self._queue = rest
            return batch

    def _flush_safely(self, batch: list[Job]) -> None:
        try:
            try:
                self._flush(batch)
            except Exception as exc:   # noqa: BLE001 - lands on its job, or each job is retried alone
                if len(batch) == 1:
                    batch[0].result, batch[0].error = None, exc
                else:
                    for job in batch:
                        self._flush_alone(job)
        finally:
            for job in batch:
                if job.result is None and job.error is None:
                    job.error = RuntimeError("group commit: the flush left this job without a result")
                job.finished = True
                job.event.set()

    def _flush_alone(self, job: Job) -> None:
        job.result = job.error = None
        try:
            self._flush([job])
        except Exception as exc:   # noqa: BLE001 - delivered to the job's own request
            job.result, job.error = None, exc

    def _hand_over(self) -> None:
        with self._lock:
            if self._queue:
                self._queue[0].lead = True
                self._queue[0].event.set()
            else:
                self._busy = False
