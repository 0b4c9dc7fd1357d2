"""Recording scans and claiming codes, many scans per statement. The claim is decided by the database.

The first valid consumer scan of a code claims it. For codes with no row yet (the usual first
scan) one `INSERT ... ON CONFLICT DO NOTHING RETURNING serial` over the whole batch creates the
rows already claimed, and only the transaction whose insert created a row gets it back; for a
code that has a row (packed, bound to a store, scanned before) `UPDATE ... RETURNING` counts the
scan and locks the row, and a conditional `UPDATE ... WHERE claimed_by IS NULL` claims it.
Either way exactly one phone wins however many scan at once; everyone else's scan only counts.
Rows are touched in serial order, so two batches lock what they share in the same order.
The scans table is the code's scan history (the trace reads it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, case, func, insert, update
from sqlalchemy.orm import Session

from codes.models import LIVE, Code, Scan, Verdict
from codes.verify import Verification
from db import insert_for
from pgfast import Writes, json_rows, pg_connection, pg_first, pg_insert_json


@dataclass
class ScanOutcome:
    verification: Verification
    verdict: str
    scan_count: int
    claimed_now: bool  # this scan claimed the code
    claimed_by: str | None  # who holds the claim (maybe this consumer from an earlier scan)
    first_scan_at: datetime | None
    first_scan_lat: float | None
    first_scan_lng: float | None
    bound_store_id: str | None


@dataclass
class Sighting:
    """One consumer scan to count: what verification found, who, where, when."""

    found: Verification
    consumer_id: str
    may_claim: bool
    lat: float | None
    lng: float | None
    ip: str | None
    at: datetime


# Statements are built once per dialect: building one costs more than running it.
_codes = Code.__table__


@cache
def _claim_new(dialect: str):
    return insert_for(dialect, _codes).on_conflict_do_nothing(index_elements=["serial"]).returning(_codes.c.serial)


def _count_existing_statement():
    c, at, lat, lng = _codes.c, bindparam("at"), bindparam("lat"), bindparam("lng")
    return (
        update(_codes)
        .where(c.serial == bindparam("s"))
        .values(
            scan_count=c.scan_count + 1,
            first_scan_at=func.coalesce(c.first_scan_at, at),
            first_scan_lat=case((c.first_scan_at.is_(None), lat), else_=c.first_scan_lat),
            first_scan_lng=case((c.first_scan_at.is_(None), lng), else_=c.first_scan_lng),
        )
        .returning(c.scan_count, c.claimed_by, c.first_scan_at, c.first_scan_lat, c.first_scan_lng, c.bound_store_id)
    )


_COUNT_EXISTING = _count_existing_statement()
_CLAIM_EXISTING = (
    update(_codes)
    .where(_codes.c.serial == bindparam("s"), _codes.c.claimed_by.is_(None))
    .values(claimed_by=bindparam("who"), claimed_at=bindparam("at"))
)
_RECORD = insert(Scan.__table__)

# The same two multi-row INSERTs as fixed PostgreSQL texts (pgfast.pg_connection). The claim also reads
# the catalog's counters (codes/catalog.py) in the same statement, so in the same snapshot: a batch
# verified against its process's catalog without reading the counters first learns here whether
# that catalog was still current.
_PG_CLAIM_NEW = (
    "WITH claimed AS ("
    + pg_insert_json(
        _codes,
        (
            "serial",
            "batch_id",
            "scan_count",
            "first_scan_at",
            "first_scan_lat",
            "first_scan_lng",
            "claimed_by",
            "claimed_at",
        ),
        " ON CONFLICT (serial) DO NOTHING RETURNING serial",
    )
    + ") SELECT (SELECT json_object_agg(area, version) FROM cache_versions), "
    "ARRAY(SELECT serial FROM claimed)"
)
_PG_RECORD = pg_insert_json(
    Scan.__table__,
    ("consumer_id", "serial", "batch_id", "brand_id", "verdict", "claimed", "lat", "lng", "region_code", "ip", "at"),
)


def first_scan(
    found: Verification, claimant: str | None, at: datetime, lat: float | None, lng: float | None
) -> ScanOutcome:
    """The outcome of a scan whose statement created its code's row: genuine, the first, and claimed by
    `claimant` (None: by nobody, the scanner may not claim)."""
    return ScanOutcome(found, Verdict.GENUINE, 1, claimant is not None, claimant, at, lat, lng, None)


class CatalogMoved(Exception):
    """The catalog changed since the sightings were verified against it: roll back and verify again."""


def count_and_claim(
    session: Session, sightings: list[Sighting], check: Callable[[dict[str, int]], None] | None = None
) -> list[ScanOutcome]:
    """Count each live scan on its code's row and claim the code for the first valid scanner.
    The serials must be distinct (one batch never holds the same code twice).
    With `check` (PostgreSQL), the claim statement also reads the catalog's counters and passes
    them to check, which raises CatalogMoved if the sightings were verified against older ones."""
    outcomes: list[ScanOutcome | None] = [None] * len(sightings)
    live = sorted(
        (i for i, s in enumerate(sightings) if s.found.verdict in LIVE), key=lambda i: sightings[i].found.serial
    )
    for i, s in enumerate(sightings):
        if s.found.verdict not in LIVE:
            outcomes[i] = ScanOutcome(
                s.found,
                s.found.verdict,
                s.found.scan_count,
                False,
                None,
                None,
                None,
                None,
                s.found.code.bound_store_id if s.found.code else None,
            )
    if not live:
        return outcomes
    rows = []
    for i in live:
        s = sightings[i]
        claimant = s.consumer_id if s.may_claim else None
        rows.append(
            {
                "serial": s.found.serial,
                "batch_id": s.found.batch.id,
                "scan_count": 1,
                "first_scan_at": s.at,
                "first_scan_lat": s.lat,
                "first_scan_lng": s.lng,
                "claimed_by": claimant,
                "claimed_at": s.at if claimant else None,
            }
        )
    conn = session.connection()
    raw = pg_connection(session)
    if raw is not None:  # rows are in serial order, and so are the inserts and their locks
        versions, serials = pg_first(raw, _PG_CLAIM_NEW, json_rows(rows)).fetchone()
        if check is not None:
            check(versions or {})
        created = set(serials)
    else:
        created = set(conn.execute(_claim_new(conn.dialect.name), rows).scalars())
    for i in live:
        s = sightings[i]
        if s.found.serial in created:
            outcomes[i] = first_scan(s.found, s.consumer_id if s.may_claim else None, s.at, s.lat, s.lng)
        else:
            outcomes[i] = _count_existing(conn, s)
    return outcomes


def _count_existing(conn, s: Sighting) -> ScanOutcome:
    """A code that already has a row: count (which locks the row until commit), then claim if unclaimed."""
    row = conn.execute(_COUNT_EXISTING, {"s": s.found.serial, "at": s.at, "lat": s.lat, "lng": s.lng}).one()
    claimed_by, claimed_now = row.claimed_by, False
    if s.may_claim and claimed_by is None:
        claimed_now = (
            conn.execute(_CLAIM_EXISTING, {"s": s.found.serial, "who": s.consumer_id, "at": s.at}).rowcount == 1
        )
        claimed_by = s.consumer_id if claimed_now else claimed_by
    verdict = Verdict.GENUINE if row.scan_count == 1 else Verdict.GENUINE_REPEAT
    return ScanOutcome(
        s.found,
        verdict,
        row.scan_count,
        claimed_now,
        claimed_by,
        row.first_scan_at,
        row.first_scan_lat,
        row.first_scan_lng,
        row.bound_store_id,
    )


def record(writes: Writes, sightings: list[Sighting], outcomes: list[ScanOutcome], regions: list[str | None]) -> None:
    """Append every scan to the scans table, one multi-row INSERT (sent with the transaction's next
    statement on PostgreSQL: see pgfast.Writes)."""
    rows = [
        {
            "consumer_id": s.consumer_id,
            "serial": s.found.serial,
            "batch_id": s.found.batch.id if s.found.batch else None,
            "brand_id": s.found.batch.brand_id if s.found.batch else None,
            "verdict": o.verdict,
            "claimed": o.claimed_now,
            "lat": s.lat,
            "lng": s.lng,
            "ip": s.ip,
            "region_code": region,
            "at": s.at,
        }
        for s, o, region in zip(sightings, outcomes, regions)
    ]
    if rows:
        writes.add(_PG_RECORD, json_rows(rows), _RECORD, rows)
