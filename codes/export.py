"""Streaming code export: CSV rows in order, constant memory, both cores for big ranges.

Rows are produced in chunks by `tokens.csv_chunk` (pure), in this process for small ranges
or in a small process pool for large ones; at most a few chunks are in flight, so memory
stays flat whatever the batch size and however slowly the client reads.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

from codes import tokens

CHUNK = 20_000
INLINE_CHUNK = 2_000  # in this process: small enough that a gevent worker's other requests wait a few ms
PARALLEL_MIN = 200_000
_pool: ProcessPoolExecutor | None = None
_pool_pid: int | None = None


def _executor(processes: int) -> ProcessPoolExecutor:
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        # forkserver: safe to start from a threaded server; workers import only codes.tokens.
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["codes.tokens"])
        _pool = ProcessPoolExecutor(max_workers=processes, mp_context=ctx)
        _pool_pid = os.getpid()
    return _pool


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
    chunks = [(a, min(a + CHUNK - 1, last)) for a in range(first, last + 1, CHUNK)]
    pool = _executor(processes)
    window: deque = deque()
    pending = iter(chunks)
    for a, b in pending:
        window.append(pool.submit(tokens.csv_chunk, secret, key_id, base_url, a, b, gs1))
        if len(window) >= processes * 2:
            break
    while window:
        data = window.popleft().result()
        nxt = next(pending, None)
        if nxt is not None:
            window.append(pool.submit(tokens.csv_chunk, secret, key_id, base_url, nxt[0], nxt[1], gs1))
        yield data
