"""Background jobs: RQ on Redis when REDIS_URL is set, inline in-process otherwise.

Job functions are importable module-level functions that take ids and are safe to run twice.
Periodic work is a set of named *sweeps* (coupon expiry, settlement, payouts, ...); `run_due`
runs each once and is what `flask jobs run-due`, the worker's scheduler and the inline
timer all call, so anything an enqueue missed is caught on the next sweep.
"""

from __future__ import annotations

import importlib
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

log = logging.getLogger(__name__)

_SWEEPS: dict[str, Callable[[], object]] = {}
_worker_app: Flask | None = None


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
    state = app.extensions["jobs"]
    if state.get("queue") is None:
        from redis import Redis
        from rq import Queue

        connection = Redis.from_url(app.config["REDIS_URL"])
        state["queue"] = Queue("default", connection=connection, is_async=app.config["RQ_IS_ASYNC"])
    return state["queue"]


def _safe_id(job_id: str | None) -> str | None:
    """RQ job ids allow letters, digits, '_' and '-' only."""
    return None if job_id is None else re.sub(r"[^A-Za-z0-9_-]", "-", job_id)


def is_inline(app: Flask | None = None) -> bool:
    return not (app or current_app).config.get("REDIS_URL")


def enqueue(func: Callable, *args, job_id: str | None = None):
    """Run `func(*args)` in the background (RQ) or right now (inline). Call after commit."""
    app = current_app._get_current_object()
    if is_inline(app):
        return func(*args)
    from rq import Retry

    job_id = _safe_id(job_id)
    try:
        queue = _queue(app)
        if job_id is not None:
            existing = queue.fetch_job(job_id)
            if existing is not None and existing.get_status(refresh=True) in (
                "queued",
                "started",
                "scheduled",
                "deferred",
            ):
                return existing
        return queue.enqueue(run_in_app, _dotted(func), *args, job_id=job_id, retry=Retry(max=3, interval=[5, 30, 120]))
    except RedisError:
        log.exception("could not enqueue %s; the periodic sweep will catch it", _dotted(func))
        return None


def enqueue_at(when: datetime, func: Callable, *args, job_id: str | None = None):
    """Run `func(*args)` at `when` (UTC). Inline mode leaves it to the periodic sweep."""
    app = current_app._get_current_object()
    if is_inline(app):
        if when.replace(tzinfo=None) <= datetime.now(UTC).replace(tzinfo=None):
            return func(*args)
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return _queue(app).enqueue_at(when, run_in_app, _dotted(func), *args, job_id=_safe_id(job_id))
    except RedisError:
        log.exception("could not schedule %s; the periodic sweep will catch it", _dotted(func))
        return None


def sweep_and_reschedule(interval_seconds: int) -> dict:
    """The worker's periodic job: run the sweeps, then schedule the next one (deduplicated by id)."""
    results = run_due()
    app = current_app._get_current_object()
    next_at = datetime.now(UTC) + timedelta(seconds=interval_seconds)
    slot = int(next_at.timestamp()) // interval_seconds
    queue = _queue(app)
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
        from rq import Worker

        _worker_app = app
        queue = _queue(app)
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

    @jobs_group.command("run-due")
    def run_due_command():
        """Run every due sweep once (expiry, settlement, group expiry, rebates, payouts)."""
        for name, result in run_due().items():
            click.echo(f"{name}: {result}")

    app.cli.add_command(jobs_group)
