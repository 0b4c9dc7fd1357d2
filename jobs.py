"""Background jobs: RQ on Redis when REDIS_URL is set, inline in-process otherwise.

Job functions are importable module-level functions that take ids and are safe to run twice.
Periodic work is a set of named *sweeps* (coupon expiry, settlement, payouts, ...); `run_due`
runs each once and is what `flask jobs run-due`, the worker's scheduler and the inline
timer all call, so anything an enqueue missed is caught on the next sweep.

This module also owns the app's Redis clients (`redis_client`, shared with the scan throttle):
every call gives up after REDIS_TIMEOUT_MS, and after a failure callers skip Redis for
REDIS_RETRY_SECONDS (`redis_usable`), so a Redis that is down or hung costs one short wait per
process now and then, not one per request. An enqueue Redis cannot take is left to the sweep.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from redis.exceptions import RedisError

from errors import ServiceUnavailable

log = logging.getLogger(__name__)

_SWEEPS: dict[str, Callable[[], object]] = {}
_worker_app: Flask | None = None

REDIS_RETRY_SECONDS = 5  # after a failed call, how long callers go without Redis before trying it again
_clients: dict[tuple[str, int], object] = {}  # (URL, timeout) -> its client in this process
_down_until: dict[str, float] = {}  # URL -> monotonic time until which callers skip it
_redis_lock = threading.Lock()


def redis_client(url: str, timeout_ms: int):
    """This process's client for `url`: connecting, and then every answer, waits at most
    `timeout_ms`, once (no retries: callers have a fallback). Made once, under a lock, so that
    threads racing on the first requests share it."""
    key = (url, timeout_ms)
    client = _clients.get(key)
    if client is None:
        with _redis_lock:
            client = _clients.get(key)
            if client is None:
                from redis import Redis
                from redis.backoff import NoBackoff
                from redis.retry import Retry

                seconds = timeout_ms / 1000
                client = _clients[key] = Redis.from_url(
                    url, socket_connect_timeout=seconds, socket_timeout=seconds, retry=Retry(NoBackoff(), 0)
                )
    return client


def redis_usable(url: str) -> bool:
    """False for REDIS_RETRY_SECONDS after a call to `url` failed: go straight to the fallback."""
    until = _down_until.get(url)
    return until is None or time.monotonic() >= until


def redis_failed(url: str, error: BaseException) -> None:
    """Note a failed call: callers skip this Redis for REDIS_RETRY_SECONDS (logged once per outage)."""
    if url not in _down_until:
        log.warning("Redis unavailable (%s); going without it, retrying in %s s", error, REDIS_RETRY_SECONDS)
    _down_until[url] = time.monotonic() + REDIS_RETRY_SECONDS


def redis_ok(url: str) -> None:
    """Note a call that worked after an outage."""
    if _down_until.pop(url, None) is not None:
        log.warning("Redis available again")


def register_sweep(name: str, func: Callable[[], object]) -> None:
    """A package declares periodic work here (in its init_app); order of registration is kept."""
    _SWEEPS[name] = func


def run_due() -> dict[str, object]:
    """Run every registered sweep once; one failing sweep does not stop the others."""
    results: dict[str, object] = {}
    for name, func in list(_SWEEPS.items()):
        try:
            results[name] = func()
        except Exception as exc:  # logged and reported; the next sweep retries
            log.exception("sweep %s failed", name)
            results[name] = f"error: {exc.__class__.__name__}"
    return results


def _dotted(func: Callable) -> str:
    return f"{func.__module__}:{func.__qualname__}"


def _resolve(path: str) -> Callable:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def run_in_app(path: str, *args, **kwargs):
    """What RQ actually executes: the named job inside an application context."""
    func = _resolve(path)
    try:
        current_app._get_current_object()
        return func(*args, **kwargs)
    except RuntimeError:
        pass
    app = _worker_app
    if app is None:  # an RQ worker this package did not start (the app is made by `flask --app app worker`)
        raise RuntimeError("jobs run in `flask --app app worker`, which makes the app they need")
    with app.app_context():
        return func(*args, **kwargs)


def _queue(app: Flask):
    """The app's queue, on its short-timeout client (an enqueue waits REDIS_TIMEOUT_MS at most)."""
    state = app.extensions["jobs"]
    if state.get("queue") is None:
        from rq import Queue

        connection = redis_client(app.config["REDIS_URL"], app.config["REDIS_TIMEOUT_MS"])
        state["queue"] = Queue("default", connection=connection, is_async=app.config["RQ_IS_ASYNC"])
    return state["queue"]


def _safe_id(job_id: str | None) -> str | None:
    """RQ job ids allow letters, digits, '_' and '-' only."""
    return None if job_id is None else re.sub(r"[^A-Za-z0-9_-]", "-", job_id)


def is_inline(app: Flask | None = None) -> bool:
    return not (app or current_app).config.get("REDIS_URL")


def _unqueued(app: Flask, func: Callable, error: BaseException | None, required: bool) -> None:
    """Redis did not take the job: the sweep will (logged), or, when the caller needs the job
    queued now, 503 with Retry-After."""
    url = app.config["REDIS_URL"]
    if error is not None:
        redis_failed(url, error)
    if required:
        raise ServiceUnavailable(REDIS_RETRY_SECONDS, "The job queue is unavailable; try again shortly.")
    log.info("could not enqueue %s (Redis unavailable); the periodic sweep will catch it", _dotted(func))


def enqueue(func: Callable, *args, job_id: str | None = None, required: bool = False):
    """Run `func(*args)` in the background (RQ) or right now (inline). Call after commit.

    Redis down or not answering: None, and the periodic sweep does the work; with `required`,
    ServiceUnavailable (503 with Retry-After) instead."""
    app = current_app._get_current_object()
    if is_inline(app):
        return func(*args)
    from rq import Retry

    if not redis_usable(app.config["REDIS_URL"]):
        return _unqueued(app, func, None, required)
    job_id = _safe_id(job_id)
    try:
        queue = _queue(app)
        job = queue.fetch_job(job_id) if job_id is not None else None
        if job is None or job.get_status(refresh=True) not in ("queued", "started", "scheduled", "deferred"):
            retry = Retry(max=3, interval=[5, 30, 120])
            job = queue.enqueue(run_in_app, _dotted(func), *args, job_id=job_id, retry=retry)
    except RedisError as error:
        return _unqueued(app, func, error, required)
    redis_ok(app.config["REDIS_URL"])
    return job


def enqueue_after_commit(session, func: Callable, *args, job_id: str | None = None) -> None:
    """`enqueue(func, *args)` once `session`'s transaction commits; forgotten if it rolls back (the
    periodic sweep is behind every such job anyway). For services that decide inside a caller's
    transaction (a signal receiver) that work should follow it."""
    from sqlalchemy import event

    pending = session.info.setdefault("enqueue_after_commit", [])
    pending.append((func, args, job_id))
    if not session.info.get("enqueue_after_commit_hooked"):
        session.info["enqueue_after_commit_hooked"] = True
        event.listen(session, "after_commit", _enqueue_committed)
        event.listen(session, "after_rollback", lambda s: s.info.pop("enqueue_after_commit", None))


def _enqueue_committed(session) -> None:
    for func, args, job_id in session.info.pop("enqueue_after_commit", []):
        enqueue(func, *args, job_id=job_id)


def enqueue_at(when: datetime, func: Callable, *args, job_id: str | None = None):
    """Run `func(*args)` at `when` (UTC). Inline mode leaves it to the periodic sweep."""
    app = current_app._get_current_object()
    if is_inline(app):
        if when.replace(tzinfo=None) <= datetime.now(UTC).replace(tzinfo=None):
            return func(*args)
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if not redis_usable(app.config["REDIS_URL"]):
        return _unqueued(app, func, None, False)
    try:
        job = _queue(app).enqueue_at(when, run_in_app, _dotted(func), *args, job_id=_safe_id(job_id))
    except RedisError as error:
        return _unqueued(app, func, error, False)
    redis_ok(app.config["REDIS_URL"])
    return job


def sweep_and_reschedule(interval_seconds: int) -> dict:
    """The worker's periodic job: run the sweeps, then schedule the next one (deduplicated by id)."""
    from rq import Queue, get_current_job

    results = run_due()
    app = current_app._get_current_object()
    next_at = datetime.now(UTC) + timedelta(seconds=interval_seconds)
    slot = int(next_at.timestamp()) // interval_seconds
    running = get_current_job()  # in the worker: its connection, whose calls may wait (the chain must not break)
    queue = Queue("default", connection=running.connection) if running is not None else _queue(app)
    job_id = f"sweep-{slot}"
    if queue.fetch_job(job_id) is None:
        queue.enqueue_at(next_at, run_in_app, _dotted(sweep_and_reschedule), interval_seconds, job_id=job_id)
    return {k: str(v) for k, v in results.items()}


def _start_inline_timer(app: Flask) -> None:
    interval = app.config["INLINE_SWEEP_SECONDS"]
    if interval <= 0:
        return

    def loop():
        while True:
            time.sleep(interval)
            with app.app_context():
                run_due()

    threading.Thread(target=loop, name="inline-sweeps", daemon=True).start()


class SweepsCommand(click.Command):
    """A command whose help lists the sweeps registered when it is shown, each with its docstring's
    first line (the parts register theirs after this module's init_app)."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_help_text(ctx, formatter)
        rows = [
            (name, (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else "")
            for name, func in _SWEEPS.items()
        ]
        with formatter.section("Sweeps"):
            formatter.write_dl(rows)


def init_app(app: Flask) -> None:
    app.extensions["jobs"] = {"queue": None, "timer": False}

    if is_inline(app) and not app.config.get("TESTING"):

        @app.before_request
        def _timer_once():
            state = app.extensions["jobs"]
            if not state["timer"]:
                state["timer"] = True
                _start_inline_timer(app)

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Drain the queue and exit.")
    def worker_command(burst: bool):
        """Run an RQ worker (with RQ's scheduler) for this app's Redis queue."""
        global _worker_app
        if is_inline(app):
            raise click.ClickException("REDIS_URL is not set: jobs run inline, no worker is needed.")
        from redis import Redis
        from rq import Queue, Worker

        _worker_app = app
        # Its own connection, without the short timeouts: a worker waits on the queue for minutes.
        connection = Redis.from_url(app.config["REDIS_URL"])
        queue = Queue("default", connection=connection, is_async=app.config["RQ_IS_ASYNC"])
        interval = app.config["SWEEP_INTERVAL_SECONDS"]
        first = datetime.now(UTC) + timedelta(seconds=1)
        queue.enqueue_at(
            first,
            run_in_app,
            _dotted(sweep_and_reschedule),
            interval,
            job_id=f"sweep-{int(first.timestamp()) // interval}",
        )
        Worker([queue], connection=queue.connection).work(with_scheduler=True, burst=burst)

    jobs_group = AppGroup("jobs", help="Background job utilities.")

    @jobs_group.command("run-due", cls=SweepsCommand, short_help="Run every periodic sweep once.")
    def run_due_command():
        """Run every periodic sweep once, in this order, and print what each did (a failing sweep is
        logged and reported; the others still run):"""
        for name, result in run_due().items():
            click.echo(f"{name}: {json.dumps(result, default=str) if isinstance(result, dict) else result}")

    app.cli.add_command(jobs_group)
