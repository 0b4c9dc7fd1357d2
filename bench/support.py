"""Helpers shared by the tests and the benchmarks, written once: scratch databases, threads released
all at once, work split over threads, a free local port, the secrets a benchmark's app runs with.

It lives in bench, an installed package, so that it imports from anywhere: `pytest` (tests/conftest.py,
the race tests), `python -m bench.<name>`, and the subprocesses either starts. tests/ is not installed:
it imports only where the repository folder is on sys.path.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1/test"

# What a benchmark's app is configured with besides its database (tests/conftest.py has the tests' own).
APP_SECRETS = {
    "ADMIN_API_KEY": "bench-admin-key",
    "MINIAPP_SECRET": "bench-miniapp-secret",
    "PAYMENT_WEBHOOK_SECRET": "bench-webhook-secret",
    "SECRET_KEY": "bench-secret-key",
    "CODE_MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "PUBLIC_BASE_URL": "https://qr.example.com",
}


def log(message: str) -> None:
    print(message, flush=True)


# --- scratch databases -----------------------------------------------------------------------------
def postgres_url(who: str) -> str:
    """DATABASE_URL (default DEFAULT_URL), which must name a PostgreSQL database."""
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith("postgresql"):
        raise SystemExit(f"{who} needs PostgreSQL: set DATABASE_URL=postgresql+psycopg://... (it is {url!r})")
    return url


def beside(url: str, suffix: str) -> str:
    """The URL of a database named `<url's database>_<suffix>` on the same server."""
    base, _, name = url.rpartition("/")
    return f"{base}/{name.split('?')[0]}_{suffix}"


def _admin_engine(url: str):
    from sqlalchemy import create_engine

    base, _, _ = url.rpartition("/")
    return create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")


def create_database(url: str) -> None:
    """(Re)create the database `url` names, empty."""
    from sqlalchemy import text

    name = url.rpartition("/")[2]
    admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def drop_database(url: str) -> None:
    from sqlalchemy import text

    name = url.rpartition("/")[2]
    admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def scratch_database(url: str, suffix: str, keep: bool = False) -> Iterator[str]:
    """A fresh database beside the one `url` names (so a run never touches real data), dropped at the
    end unless `keep`. Yields its URL; it is empty: the caller migrates it."""
    scratch = beside(url, suffix)
    create_database(scratch)
    try:
        yield scratch
    finally:
        if not keep:
            drop_database(scratch)


# --- threads -------------------------------------------------------------------------------------
def all_at_once(n: int, prepare: Callable, send: Callable, timeout: float = 60) -> list:
    """n threads: each runs prepare(i), waits until all have, then returns send(i, prepared) as its
    result (an exception becomes ("exception", repr)). Every thread is joined with a timeout."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def one(i):
        prepared = prepare(i)
        barrier.wait(timeout)
        try:
            results[i] = send(i, prepared)
        except BaseException as exc:  # noqa: BLE001 - the caller's assertions report it
            results[i] = ("exception", repr(exc))

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not [t for t in threads if t.is_alive()], "a thread never returned (deadlock or lost wake-up)"
    return results


def split_over_threads(workers: int, n: int, work: Callable) -> float:
    """Run work(worker, indexes) on `workers` threads over a split of range(n); returns items per second."""
    slices = [range(w, n, workers) for w in range(workers)]
    errors: list[BaseException] = []

    def run(w):
        try:
            work(w, slices[w])
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(workers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return n / elapsed


# --- servers -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
