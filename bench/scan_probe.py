"""python -m bench.scan_probe: what a scan batch costs under bench.scan's load, from inside the workers.

Runs bench.scan (same knobs, BENCH_SCAN_*) with the app wrapped by `create_app` below, which
times, per gunicorn worker:
- every scan_rewards._flush: the batch's size, its thread CPU and its wall time (throttle,
  transaction, statements, commit);
- every request through the WSGI app: thread CPU, and how much of it GroupCommit.run took
  (the flush, for a leader, plus queueing and wake-ups);
and prints, per worker, the batch sizes, CPU and wall per batch, CPU per scan, and the request's
CPU outside the batch. Thread CPU leaves out gunicorn's own threads (accept, poll, writes), which
bench.scan's cpu_ms_per_scan "server" includes. The wrapping costs a few microseconds a request.
It serves with gthread workers unless BENCH_SCAN_WORKER_CLASS is set: thread CPU under gevent
would count every request the worker ran meanwhile.
"""

from __future__ import annotations

import atexit
import glob
import json
import os
import sys
import tempfile
import threading
import time

_stats = {
    "flushes": 0,
    "jobs": 0,
    "flush_cpu_s": 0.0,
    "flush_wall_s": 0.0,
    "requests": 0,
    "request_cpu_s": 0.0,
    "run_cpu_s": 0.0,
    "sizes": {},
}
_lock = threading.Lock()


def _save() -> None:
    folder = os.environ.get("BENCH_PROBE_DIR")
    if folder:
        with _lock:
            snapshot = json.dumps(_stats)
        with open(os.path.join(folder, f"worker-{os.getpid()}.json"), "w") as fh:
            fh.write(snapshot)


def create_app():
    """The real app, with its scan batches and requests timed (gunicorn "bench.scan_probe:create_app()")."""
    from app import create_app as real_create_app
    from loyalty.scanning import batch as scan_rewards
    from loyalty.scanning.groupcommit import GroupCommit

    flush, run = scan_rewards._flush, GroupCommit.run

    def timed_flush(jobs):
        cpu, wall = time.thread_time(), time.perf_counter()
        try:
            return flush(jobs)
        finally:
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
            with _lock:
                _stats["flushes"] += 1
                _stats["jobs"] += len(jobs)
                _stats["flush_cpu_s"] += cpu
                _stats["flush_wall_s"] += wall
                _stats["sizes"][str(len(jobs))] = _stats["sizes"].get(str(len(jobs)), 0) + 1
                due = _stats["flushes"] % 200 == 0
            if due:
                _save()

    def timed_run(self, payload, key=None):
        cpu = time.thread_time()
        try:
            return run(self, payload, key)
        finally:
            cpu = time.thread_time() - cpu
            with _lock:
                _stats["run_cpu_s"] += cpu

    scan_rewards._flush = timed_flush  # before the first scan builds the process's GroupCommit
    GroupCommit.run = timed_run
    app = real_create_app()
    inner = app.wsgi_app

    def timed_wsgi(environ, start_response):
        cpu = time.thread_time()
        try:
            return inner(environ, start_response)
        finally:
            cpu = time.thread_time() - cpu
            with _lock:
                _stats["requests"] += 1
                _stats["request_cpu_s"] += cpu

    app.wsgi_app = timed_wsgi
    atexit.register(_save)
    return app


def summary(folder: str) -> list[dict]:
    out = []
    for path in sorted(glob.glob(os.path.join(folder, "worker-*.json"))):
        with open(path) as fh:
            s = json.load(fh)
        if not s["flushes"] or not s["requests"]:
            continue
        out.append(
            {
                "worker": os.path.basename(path)[7:-5],
                "batches": s["flushes"],
                "mean_batch": round(s["jobs"] / s["flushes"], 2),
                "batch_sizes": {int(k): v for k, v in sorted(s["sizes"].items(), key=lambda kv: int(kv[0]))},
                "flush_cpu_ms_per_batch": round(s["flush_cpu_s"] * 1000 / s["flushes"], 3),
                "flush_wall_ms_per_batch": round(s["flush_wall_s"] * 1000 / s["flushes"], 3),
                "flush_cpu_ms_per_scan": round(s["flush_cpu_s"] * 1000 / s["jobs"], 3),
                "request_cpu_ms": round(s["request_cpu_s"] * 1000 / s["requests"], 3),
                "request_cpu_ms_outside_batch": round((s["request_cpu_s"] - s["run_cpu_s"]) * 1000 / s["requests"], 3),
                "groupcommit_cpu_ms_besides_flush": round(
                    (s["run_cpu_s"] - s["flush_cpu_s"]) * 1000 / s["requests"], 3
                ),
            }
        )
    return out


def main() -> int:
    folder = tempfile.mkdtemp(prefix="bench-scan-probe-")
    os.environ["BENCH_PROBE_DIR"] = folder
    os.environ["BENCH_SCAN_APP"] = "bench.scan_probe:create_app()"
    # CPU here is thread CPU: with gevent every request shares the worker's one thread, so its CPU
    # would count everything the worker did meanwhile. Threads, unless asked otherwise (then only
    # the batch sizes and wall times mean what they say).
    os.environ.setdefault("BENCH_SCAN_WORKER_CLASS", "gthread")
    from bench import scan

    code = scan.main()
    workers = summary(folder)
    for worker in workers:
        print(json.dumps(worker), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
