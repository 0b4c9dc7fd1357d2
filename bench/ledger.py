"""python -m bench.ledger: ledger transfers per second on PostgreSQL, against a bare INSERT loop.

Creates a scratch database `<name>_bench_ledger` beside the one in DATABASE_URL (default
postgresql+psycopg://postgres@127.0.0.1/test), migrates it, posts N transfers (default 100,000)
through `storefront.ledger.transfers.transfer` and, as the same-run baseline, N single-row INSERTs into a
trivial table, both through `db.make_engine` sessions as the service uses them, with the same
workers and the same commit pattern; checks the ledger with `verify`; drops the database. The last
line of output is the JSON figure.

Workers and commit pattern (defaults): 4 worker PROCESSES, as gunicorn or RQ would run them, each
COMMITTING EVERY 10 TRANSFERS (or 10 inserts), like a settlement or rebate job working through its
queue. `--batch 1` is one transfer per transaction, what a request handler does: a transaction then
also costs a pool ping, BEGIN and COMMIT round trips besides the transfer's own two statements (lock
the accounts; write transfer, entries and totals), which on a 2-core machine roughly halves the
transfer rate and no longer fits 100,000 transfers into three minutes.

Workload: 20 brand budgets funded up front and 400 stores; four in five transfers pay a store from
a brand's budget (coupon_reimbursement), one in five settles a store's pending money to available.
Each worker pays its own share of brands and stores: transactions holding several transfers over
shared accounts could lock them in different orders and deadlock (PostgreSQL would abort one).

    python -m bench.ledger [--transfers 100000] [--workers 4] [--batch 10]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import time

from sqlalchemy import text

from bench.support import log, postgres_url, scratch_database

BRANDS, STORES = 20, 400
CLEARING = ("platform", None, "clearing")


def _run_processes(target, url: str, workers: int, n: int, batch: int) -> float:
    """Run target(url, w, workers, n, batch) in `workers` processes; returns items per second."""
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=target, args=(url, w, workers, n, batch)) for w in range(workers)]
    started = time.perf_counter()
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    elapsed = time.perf_counter() - started
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed:
        raise SystemExit(f"{len(failed)} worker process(es) failed: exit codes {failed}")
    return n / elapsed


def _session_factory(url: str):
    from sqlalchemy.orm import sessionmaker

    import db

    return sessionmaker(db.make_engine(url), expire_on_commit=False)


def _brands():
    return [("brand", f"br_bench{i:03d}", "budget") for i in range(BRANDS)]


def _stores():
    return [f"st_bench{i:04d}" for i in range(STORES)]


def _transfer_worker(url: str, w: int, workers: int, n: int, batch: int) -> None:
    from storefront.ledger import transfers

    factory = _session_factory(url)
    rng = random.Random(w)
    own_brands, own_stores = _brands()[w::workers], _stores()[w::workers]
    pending = dict.fromkeys(own_stores, 0)
    started = time.perf_counter()
    session = factory()
    for count, i in enumerate(range(w, n, workers), 1):
        store = rng.choice(own_stores)
        if i % 5 == 4 and pending[store]:
            amount = pending[store]
            transfers.transfer(
                session,
                ("store", store, "pending"),
                ("store", store, "available"),
                amount,
                key=f"settle-{i}",
                kind="settlement",
                reference=f"bench-{i}",
            )
            pending[store] -= amount
        else:
            amount = rng.randint(100, 5000)
            transfers.transfer(
                session,
                rng.choice(own_brands),
                ("store", store, "pending"),
                amount,
                key=f"pay-{i}",
                kind="coupon_reimbursement",
                reference=f"bench-{i}",
            )
            pending[store] += amount
        if count % batch == 0:
            session.commit()
            session.close()
            session = factory()
        if w == 0 and count % (10_000 // workers) == 0:
            log(f"transfers: ~{count * workers:,} in {time.perf_counter() - started:.1f} s")
    session.commit()
    session.close()


def _insert_worker(url: str, w: int, workers: int, n: int, batch: int) -> None:
    factory = _session_factory(url)
    insert = text("INSERT INTO bench_rows (payload, amount) VALUES (:payload, :amount)")
    session = factory()
    for count, i in enumerate(range(w, n, workers), 1):
        session.execute(insert, {"payload": f"row-{i}", "amount": i})
        if count % batch == 0:
            session.commit()
            session.close()
            session = factory()
    session.commit()
    session.close()


def bench_inserts(url: str, n: int, workers: int, batch: int) -> float:
    factory = _session_factory(url)
    with factory() as session:
        session.execute(
            text(
                "CREATE TABLE bench_rows (id bigserial PRIMARY KEY, payload text NOT NULL, "
                "amount bigint NOT NULL, at timestamp NOT NULL DEFAULT now())"
            )
        )
        session.commit()
    factory.kw["bind"].dispose()
    rate = _run_processes(_insert_worker, url, workers, n, batch)
    log(f"inserts: {n:,} at {rate:.0f}/s")
    return rate


def bench_transfers(url: str, n: int, workers: int, batch: int) -> float:
    from storefront.ledger import audit, transfers

    factory = _session_factory(url)
    with factory() as session:
        for brand in _brands():
            transfers.transfer(session, CLEARING, brand, 10**12, key=f"fund-{brand[1]}", kind="deposit")
        session.commit()
    factory.kw["bind"].dispose()  # the workers are forked: each opens its own connections
    rate = _run_processes(_transfer_worker, url, workers, n, batch)
    log(f"transfers: {n:,} at {rate:.0f}/s")
    started = time.perf_counter()
    with factory() as session:
        problems = audit.verify(session)
    if problems:
        raise SystemExit(f"ledger verify failed after the run: {problems[:3]}")
    log(f"ledger verify OK in {time.perf_counter() - started:.1f} s (hash chains, running totals, zero sum)")
    factory.kw["bind"].dispose()
    return rate


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=4, help="worker processes, each with its own connections")
    parser.add_argument("--batch", type=int, default=10, help="transfers (and inserts) per transaction")
    args = parser.parse_args(argv)
    url = postgres_url("bench.ledger")

    from migrations import upgrade

    with scratch_database(url, "bench_ledger") as scratch:
        upgrade(scratch)
        log(
            f"scratch database ready; {args.transfers:,} transfers and as many inserts, "
            f"{args.workers} worker processes, {args.batch} per transaction"
        )
        inserts_per_s = bench_inserts(scratch, args.transfers, args.workers, args.batch)
        transfers_per_s = bench_transfers(scratch, args.transfers, args.workers, args.batch)
    print(
        json.dumps(
            {
                "transfers_per_s": round(transfers_per_s, 1),
                "insert_per_s": round(inserts_per_s, 1),
                "ratio": round(transfers_per_s / inserts_per_s, 3),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
