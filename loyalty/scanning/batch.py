"""POST /scans: a batch of concurrent scans, verified, counted, claimed and rewarded together.

Concurrent scans in one process are written together (groupcommit.py): one transaction and one
commit for every scan that queued while the previous batch was in the database. On the general
path (`_scan_batch`):
1. the throttle counts every scan of the batch in one Redis round trip (in this process while
   Redis is down or slower than REDIS_TIMEOUT_MS: loyalty/throttle.py);
2. verification reads through the process's catalog (codes/catalog.py), whose versions are
   checked once for the batch;
3. one multi-row INSERT claims the codes scanned for the first time (codes/scans.py);
4. one multi-row INSERT appends the scans;
5. the first scans' prizes are drawn and granted by conditional UPDATEs (prizes.py), last, just
   before the commit, because every batch's winners update the same campaign rows;
6. the first scan of an item bound to a store tells the packages above (codes.signals).
Locks are taken codes (by serial), then campaigns (by id), then ledger accounts (bound claims).

On PostgreSQL the everyday batch skips most of that: first scans of codes that have no row yet,
under campaigns limited only by budget and count cap, are verified and drawn and then claimed,
recorded and rewarded by one statement in its own transaction, one round trip (statement.py).
Whatever it does not take (other verdicts, codes that already had a row, campaigns with
per-consumer or tier limits) runs on the general path in a second transaction; when it refuses
the batch (stale catalog, a campaign that cannot take every prize) it has written nothing and the
whole batch runs on the general path. A batch that finds its connection dropped runs once more.
"""

from __future__ import annotations

import threading

import psycopg
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from codes import scans
from codes.catalog import catalog
from codes.models import LIVE
from codes.signals import bound_code_claimed
from db import dispose, engine, is_postgres, lost_connection, session_scope, utcnow
from identity.nearby import region_near
from loyalty import throttle
from loyalty.models import Coupon
from loyalty.scanning import statement
from loyalty.scanning.groupcommit import GroupCommit, Job, for_this_process
from loyalty.scanning.prizes import grant
from loyalty.scanning.request import ScanRequest, ScanSettings, ScanState, verified
from loyalty.scanning.response import response
from pgfast import Writes, pg_connection

SCAN_LINGER_S = 0.002  # under load, a batch first waits this long for more scans (groupcommit.py)
_start_lock = threading.Lock()


def scan(
    settings: ScanSettings, consumer_id: str, code: str, lat: float | None, lng: float | None, ip: str | None
) -> dict:
    """The scan's response body; raises Throttled past a limit. Waits for the batch it joins."""
    request = ScanRequest(consumer_id, code, lat, lng, ip, utcnow(), settings)
    return _group().run(request, key=_code_key(code))


def _group() -> GroupCommit:
    """The app's group commit in this process (per-app state, made on the first scan)."""
    state = current_app.extensions
    found = state.get("scan_commit")
    if found is None:
        with _start_lock:
            found = state.get("scan_commit") or state.setdefault("scan_commit", for_this_process(_flush, SCAN_LINGER_S))
    return found


def _code_key(code: str) -> str | None:
    """Scans of one code go to different batches, so that the later sees the earlier's claim."""
    from codes import tokens

    try:
        return str(tokens.parse(code).serial)
    except tokens.Malformed:
        return None


def _flush(jobs: list[Job]) -> None:
    uncounted = [job.payload for job in jobs if not job.payload.counted]
    refused = throttle.hit_many(
        [
            (
                (f"consumer:{r.consumer_id}", r.settings.limit_per_consumer),
                (f"ip:{r.ip}", r.settings.limit_per_ip if r.ip else 0),
            )
            for r in uncounted
        ],
        jobs[0].payload.settings.redis_url,
        redis_timeout_ms=jobs[0].payload.settings.redis_timeout_ms,
    )
    for r, error in zip(uncounted, refused):
        r.refused, r.counted = error, True
    for job in jobs:
        job.error = job.payload.refused
    admitted = [job for job in jobs if job.error is None]
    if not admitted:
        return
    try:
        _scan_all(admitted)
    except (psycopg.OperationalError, DBAPIError) as exc:
        if not lost_connection(exc):
            raise
        # The database dropped the connection (a restart, a failover), and likely every other one in the
        # pools: close them all and run the scans still unanswered once more on new ones. Had the
        # statement committed just before the link broke, its codes now have rows and these scans read
        # as their claimant's rescans (no second reward).
        dispose()
        _scan_all([job for job in admitted if job.result is None])


def _scan_all(jobs: list[Job]) -> None:
    """Answer the admitted scans: the everyday ones in one statement on PostgreSQL, the rest (and
    all of them on SQLite) on the general path. The statement's scans are answered as soon as it
    has committed, so that if the general path then fails, only its own scans are retried."""
    requests = [job.payload for job in jobs]
    bodies = statement.everyday(requests) if is_postgres(engine()) else [None] * len(requests)
    optimistic = bodies is not None  # refused: the catalog may have moved, so reread it first
    for job, body in zip(jobs, bodies or [None] * len(jobs)):
        job.result = body
    rest = [job for job in jobs if job.result is None]
    if rest:
        for job, body in zip(rest, _general([job.payload for job in rest], optimistic)):
            job.result = body


def _general(requests: list[ScanRequest], optimistic: bool = True) -> list[dict]:
    if optimistic:
        try:
            with session_scope() as session:
                return _scan_batch(session, requests, optimistic=True)
        except scans.CatalogMoved:  # rolled back; the catalog is current now
            pass
    with session_scope() as session:
        return _scan_batch(session, requests, optimistic=False)


def _scan_batch(session: Session, requests: list[ScanRequest], optimistic: bool) -> list[dict]:
    """Optimistic (PostgreSQL): verify against the catalog as it is, and learn from the claim
    statement itself whether it was still current (one round trip fewer); if it was not, raise
    CatalogMoved for the caller to roll back and run the batch again, not optimistic."""
    cached = catalog()
    optimistic = optimistic and pg_connection(session) is not None
    if optimistic:
        seen = cached.versions()  # before any read: another thread may refresh the catalog meanwhile

        def check(versions: dict[str, int]) -> None:
            cached.apply(versions)
            if versions != seen:
                raise scans.CatalogMoved()
    else:
        cached.refresh(session)
    batch = [verified(session, cached, r) for r in requests]
    sightings = [
        scans.Sighting(
            s.found, s.request.consumer_id, not s.blacklisted, s.request.lat, s.request.lng, s.request.ip, s.request.at
        )
        for s in batch
    ]
    if optimistic and not any(s.found.verdict in LIVE for s in batch):
        check(cached.read_versions(session))  # nothing to claim, so nothing read the counters yet
    for s, outcome in zip(batch, scans.count_and_claim(session, sightings, check=check if optimistic else None)):
        s.outcome = outcome
        store_id = outcome.bound_store_id
        s.bound_store = cached.store(session, store_id) if store_id else None
        s.region = s.bound_store.region_code if s.bound_store else region_near(session, s.request.lat, s.request.lng)
    writes = Writes(session)
    scans.record(writes, sightings, [s.outcome for s in batch], [s.region for s in batch])
    _earlier_rewards(
        session,
        [
            s
            for s in batch
            if not s.outcome.claimed_now and s.found.verdict in LIVE and s.outcome.claimed_by == s.request.consumer_id
        ],
    )
    # Last before the commit: every batch's winners update the same campaign rows, so hold them briefly.
    claimed = [s for s in batch if s.outcome.claimed_now]
    grant(session, writes, claimed)
    writes.finish()
    for s in claimed:
        # Only bound items: the one statement (statement.py) claims unbound codes alone.
        if s.outcome.bound_store_id:
            bound_code_claimed.send(session, found=s.found, outcome=s.outcome, consumer_id=s.request.consumer_id)
    return [response(session, s) for s in batch]


def _earlier_rewards(session: Session, repeats: list[ScanState]) -> None:
    """A claimer's rescan shows the rewards its first scan earned."""
    if not repeats:
        return
    by_serial = {s.found.serial: s for s in repeats}
    for coupon in session.scalars(select(Coupon).where(Coupon.serial.in_(list(by_serial))).order_by(Coupon.issued_at)):
        s = by_serial[coupon.serial]
        if coupon.consumer_id == s.request.consumer_id:
            s.rewards.append(coupon)
