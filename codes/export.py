"""Streaming code export: CSV rows in order, constant memory, both cores for big ranges.

Rows are produced in chunks by `tokens.csv_chunk` (pure), in this process for small ranges
or in a small process pool for large ones; at most a few chunks are in flight, so memory
stays flat whatever the batch size and however slowly the client reads.

A large export has a pool of its own, shut down when its rows are done or its generator is
closed (the response finished, or the client went away), so an idle server holds no export
processes. Its processes die with the server, however the server ends (SIGKILL included, when no
cleanup of ours runs): each worker watches the server's pid and exits when it is gone. Without
that, a worker waited forever on its task queue, and it held the forkserver's and the resource
tracker's pipes open, so those two outlived the server as well; they exit once the server and
every worker are gone.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from itertools import islice

from codes import tokens

CHUNK = 20_000
INLINE_CHUNK = 2_000  # in this process: small enough that a gevent worker's other requests wait a few ms
PARALLEL_MIN = 200_000
_open: weakref.WeakSet[ProcessPoolExecutor] = weakref.WeakSet()  # the pools of exports under way


def _pool(processes: int) -> ProcessPoolExecutor:
    # forkserver: safe to start from a threaded server; workers import only codes.tokens.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["codes.tokens"])
    pool = ProcessPoolExecutor(
        max_workers=processes, mp_context=ctx, initializer=_exit_with_server, initargs=(os.getpid(),)
    )
    _open.add(pool)
    return pool


def _exit_with_server(server_pid: int) -> None:
    """In each worker: a thread that ends the worker as soon as the server process is gone. The
    worker is the forkserver's child, not the server's, so it would not be told otherwise, and it
    would wait forever on a queue it holds open itself."""

    def watch():
        try:
            fd = os.pidfd_open(server_pid)  # readable once that process has exited (Linux 5.3+)
        except (AttributeError, OSError):
            fd = None
        if fd is not None:
            select.select([fd], [], [])
        else:
            while _alive(server_pid):
                time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-server", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_pids() -> list[int]:
    """The processes of the exports under way in this server process (for measurements)."""
    return [pid for pool in list(_open) for pid in list(getattr(pool, "_processes", None) or {})]


def csv_rows(
    secret: bytes,
    key_id: int,
    base_url: str,
    first: int,
    last: int,
    gs1: tuple[str, str] | None = None,
    processes: int = 0,
    header: bool = True,
) -> Iterator[bytes]:
    """Yield the CSV (header `serial,token,url`) for serials first..last in chunks of bytes."""
    if header:
        yield b"serial,token,url\n"
    processes = processes or (os.cpu_count() or 1)
    if processes < 2 or last - first + 1 < PARALLEL_MIN:
        for a in range(first, last + 1, INLINE_CHUNK):
            yield tokens.csv_chunk(secret, key_id, base_url, a, min(a + INLINE_CHUNK - 1, last), gs1)
            time.sleep(0)  # a pause point for the worker's other requests: a few ms of CPU apart (labels.zip_stream)
        return
    chunks = iter([(a, min(a + CHUNK - 1, last)) for a in range(first, last + 1, CHUNK)])
    pool = _pool(processes)
    try:
        window = deque(
            pool.submit(tokens.csv_chunk, secret, key_id, base_url, a, b, gs1) for a, b in islice(chunks, processes * 2)
        )
        while window:
            data = window.popleft().result()
            nxt = next(chunks, None)
            if nxt is not None:
                window.append(pool.submit(tokens.csv_chunk, secret, key_id, base_url, nxt[0], nxt[1], gs1))
            yield data
    finally:  # done, closed by the response (finished or abandoned), or failed: no process outlives it
        _open.discard(pool)
        pool.shutdown(wait=True, cancel_futures=True)
