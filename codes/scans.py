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

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, insert, update
from sqlalchemy.orm import Session

from codes.models import Code, Scan
from codes.verify import LIVE, Verification
from db import dialect_insert


@dataclass
class ScanOutcome:
    verification: Verification
    verdict: str
    scan_count: int
    claimed_now: bool          # this scan claimed the code
    claimed_by: str | None     # who holds the claim (maybe this consumer from an earlier scan)
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


def count_and_claim(session: Session, sightings: list[Sighting]) -> list[ScanOutcome]:
    """Count each live scan on its code's row and claim the code for the first valid scanner.
    The serials must be distinct (one batch never holds the same code twice)."""
    outcomes: list[ScanOutcome | None] = [None] * len(sightings)
    live = sorted((i for i, s in enumerate(sightings) if s.found.verdict in LIVE),
                  key=lambda i: sightings[i].found.serial)
    for i, s in enumerate(sightings):
        if s.found.verdict not in LIVE:
            outcomes[i] = ScanOutcome(s.found, s.found.verdict, s.found.scan_count, False, None, None, None, None,
                                      s.found.code.bound_store_id if s.found.code else None)
    if not live:
        return outcomes
    rows = []
    for i in live:
        s = sightings[i]
        claimant = s.consumer_id if s.may_claim else None
        rows.append({"serial": s.found.serial, "batch_id": s.found.batch.id, "scan_count": 1, "first_scan_at": s.at,
                     "first_scan_lat": s.lat, "first_scan_lng": s.lng, "claimed_by": claimant,
                     "claimed_at": s.at if claimant else None})
    stmt = dialect_insert(session, Code.__table__).on_conflict_do_nothing(index_elements=["serial"]).returning(Code.serial)
    created = set(session.scalars(stmt, rows)) if len(rows) > 1 else set(session.scalars(stmt.values(rows[0])))
    for i in live:
        s = sightings[i]
        if s.found.serial in created:
            claimant = s.consumer_id if s.may_claim else None
            outcomes[i] = ScanOutcome(s.found, "genuine", 1, claimant is not None, claimant, s.at, s.lat, s.lng, None)
        else:
            outcomes[i] = _count_existing(session, s)
    return outcomes


def _count_existing(session: Session, s: Sighting) -> ScanOutcome:
    """A code that already has a row: count (which locks the row until commit), then claim if unclaimed."""
    serial, at = s.found.serial, s.at
    row = session.execute(
        update(Code).where(Code.serial == serial)
        .values(scan_count=Code.scan_count + 1, first_scan_at=func.coalesce(Code.first_scan_at, at),
                first_scan_lat=case((Code.first_scan_at.is_(None), s.lat), else_=Code.first_scan_lat),
                first_scan_lng=case((Code.first_scan_at.is_(None), s.lng), else_=Code.first_scan_lng))
        .returning(Code.scan_count, Code.claimed_by, Code.first_scan_at, Code.first_scan_lat, Code.first_scan_lng,
                   Code.bound_store_id)
        .execution_options(synchronize_session=False)).one()
    claimed_by, claimed_now = row.claimed_by, False
    if s.may_claim and claimed_by is None:
        claimed_now = session.execute(
            update(Code).where(Code.serial == serial, Code.claimed_by.is_(None))
            .values(claimed_by=s.consumer_id, claimed_at=at)
            .execution_options(synchronize_session=False)).rowcount == 1
        claimed_by = s.consumer_id if claimed_now else claimed_by
    verdict = "genuine" if row.scan_count == 1 else "genuine_repeat"
    return ScanOutcome(s.found, verdict, row.scan_count, claimed_now, claimed_by, row.first_scan_at,
                       row.first_scan_lat, row.first_scan_lng, row.bound_store_id)


def record(session: Session, sightings: list[Sighting], outcomes: list[ScanOutcome],
           regions: list[str | None]) -> None:
    """Append every scan to the scans table, one multi-row INSERT."""
    rows = [{"consumer_id": s.consumer_id, "serial": s.found.serial,
             "batch_id": s.found.batch.id if s.found.batch else None,
             "brand_id": s.found.batch.brand_id if s.found.batch else None, "verdict": o.verdict,
             "claimed": o.claimed_now, "lat": s.lat, "lng": s.lng, "ip": s.ip, "region_code": region, "at": s.at}
            for s, o, region in zip(sightings, outcomes, regions)]
    if rows:
        session.execute(insert(Scan.__table__), rows)
