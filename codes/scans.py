"""Recording scans and claiming codes. The claim is decided by the database.

The first valid consumer scan of a code claims it. For a code with no row yet (the usual first
scan) `INSERT ... ON CONFLICT DO NOTHING RETURNING` creates the row already claimed, and only the
phone whose insert created it gets a row back; for a code that has a row (packed, bound to a
store, scanned) a conditional `UPDATE ... WHERE claimed_by IS NULL` decides. Either way exactly
one phone wins however many scan at once; everyone else's scan only counts. The scans table is
the code's scan history (the trace reads it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, update
from sqlalchemy.orm import Session

from codes.models import Code, Scan
from codes.verify import LIVE, Verification
from db import insert_new, utcnow


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


def scan(session: Session, found: Verification, consumer_id: str, lat: float | None, lng: float | None,
         ip: str | None, region_code: str | None, may_claim: bool = True) -> ScanOutcome:
    """Count the scan, claim the code if it is live and unclaimed, and record the scan row."""
    now = utcnow()
    if found.verdict not in LIVE:
        session.add(Scan(consumer_id=consumer_id, serial=found.serial,
                         batch_id=found.batch.id if found.batch else None,
                         brand_id=found.batch.brand_id if found.batch else None, verdict=found.verdict,
                         lat=lat, lng=lng, ip=ip, region_code=region_code, at=now))
        return ScanOutcome(found, found.verdict, found.scan_count, False, None, None, None, None,
                           found.code.bound_store_id if found.code else None)
    serial = found.serial
    if found.code is None:
        # The common case, a code's very first scan: one statement creates its row and claims it.
        claimant = consumer_id if may_claim else None
        created = insert_new(session, Code.__table__, {
            "serial": serial, "batch_id": found.batch.id, "scan_count": 1, "first_scan_at": now,
            "first_scan_lat": lat, "first_scan_lng": lng, "claimed_by": claimant, "claimed_at": now if claimant else None,
        }, ["serial"], Code.serial)
        if created is not None:
            session.add(Scan(consumer_id=consumer_id, serial=serial, batch_id=found.batch.id,
                             brand_id=found.batch.brand_id, verdict="genuine", claimed=claimant is not None, lat=lat,
                             lng=lng, ip=ip, region_code=region_code, at=now))
            return ScanOutcome(found, "genuine", 1, claimant is not None, claimant, now, lat, lng, None)
    claimed_now = False
    if may_claim and (found.code is None or found.code.claimed_by is None):
        claimed_now = session.execute(
            update(Code).where(Code.serial == serial, Code.claimed_by.is_(None))
            .values(claimed_by=consumer_id, claimed_at=now)
            .execution_options(synchronize_session=False)).rowcount == 1
    row = session.execute(
        update(Code).where(Code.serial == serial)
        .values(scan_count=Code.scan_count + 1, first_scan_at=func.coalesce(Code.first_scan_at, now),
                first_scan_lat=case((Code.first_scan_at.is_(None), lat), else_=Code.first_scan_lat),
                first_scan_lng=case((Code.first_scan_at.is_(None), lng), else_=Code.first_scan_lng))
        .returning(Code.scan_count, Code.claimed_by, Code.first_scan_at, Code.first_scan_lat, Code.first_scan_lng,
                   Code.bound_store_id)
        .execution_options(synchronize_session=False)).one()
    verdict = "genuine" if row.scan_count == 1 else "genuine_repeat"
    session.add(Scan(consumer_id=consumer_id, serial=serial, batch_id=found.batch.id, brand_id=found.batch.brand_id,
                     verdict=verdict, claimed=claimed_now, lat=lat, lng=lng, ip=ip, region_code=region_code, at=now))
    return ScanOutcome(found, verdict, row.scan_count, claimed_now, row.claimed_by, row.first_scan_at,
                       row.first_scan_lat, row.first_scan_lng, row.bound_store_id)
