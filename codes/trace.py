"""A code's whole history, for the brand's investigations: issued, activated or voided, packed, shipped,
received (also through the cases it was in), scanned. It stays whole whatever the code's verdict is
now: a revoked key or a void ends the code's life, not its history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from codes.models import CodeEvent, CodeEventType, CodeRange, RangeAction, Scan
from codes.verify import own_code

MAX_SCANS = 100
_CASE_EVENTS = (CodeEventType.SHIPPED, CodeEventType.RECEIVED)


def case_stays(own_events: list[CodeEvent], current_case: int | None) -> dict[int, list[tuple]]:
    """When the item was in each case: {case serial: [(from, until)]} from its packed and unpacked
    events (a repack leaves the previous case); None is an open end."""
    stays: dict[int, list[tuple]] = {}
    inside: tuple[int, datetime] | None = None
    for event in own_events:
        case = (event.detail or {}).get("case_serial")
        if event.type == CodeEventType.PACKED and case is not None:
            if inside is not None:
                stays.setdefault(inside[0], []).append((inside[1], event.at))
            inside = (case, event.at)
        elif event.type == CodeEventType.UNPACKED and inside is not None and inside[0] == case:
            stays.setdefault(case, []).append((inside[1], event.at))
            inside = None
    if inside is not None:
        stays.setdefault(inside[0], []).append((inside[1], None))
    if current_case is not None and current_case not in stays:
        stays[current_case] = [(None, None)]  # packed before packing was recorded
    return stays


def _during(at: datetime, stays: list[tuple]) -> bool:
    return any((start is None or start <= at) and (end is None or at < end) for start, end in stays)


def trace(session: Session, brand_id: str, code: str) -> dict:
    found = own_code(session, brand_id, code)
    batch, serial = found.batch, found.serial
    events = [
        {
            "type": "issued",
            "at": batch.created_at,
            "detail": {"batch_id": batch.id, "lot": batch.lot, "kind": batch.kind},
        }
    ]
    for row in session.scalars(
        select(CodeRange).where(
            CodeRange.batch_id == batch.id, CodeRange.serial_from <= serial, CodeRange.serial_to >= serial
        )
    ):
        detail = {"range": [row.serial_from, row.serial_to]}
        if row.reason:
            detail["reason"] = row.reason
        events.append(
            {"type": "activated" if row.action == RangeAction.ACTIVATE else "voided", "at": row.at, "detail": detail}
        )
    own = list(session.scalars(select(CodeEvent).where(CodeEvent.serial == serial).order_by(CodeEvent.id)))
    for row in own:
        events.append({"type": row.type, "at": row.at, "detail": row.detail or {}})
    # Every scan recorded against this code, whatever its verdict then (a scan after a void or a key
    # revocation is evidence too); forged look-alikes are recorded without a serial and never appear.
    scans = session.scalars(
        select(Scan).where(Scan.serial == serial, Scan.batch_id == batch.id).order_by(Scan.id.desc()).limit(MAX_SCANS)
    )
    for row in scans:
        events.append(
            {
                "type": "scanned",
                "at": row.at,
                "detail": {
                    "first": row.claimed,
                    "verdict": row.verdict,
                    "region_code": row.region_code,
                    "consumer": bool(row.consumer_id),
                },
            }
        )
    current_case = found.code.parent_serial if found.code is not None else None
    # Events of a case while this item was in it (shipped to distributor, received by store) are the item's too.
    stays = case_stays(own, current_case)
    if stays:
        for row in session.scalars(
            select(CodeEvent)
            .where(CodeEvent.serial.in_(list(stays)), CodeEvent.type.in_(_CASE_EVENTS))
            .order_by(CodeEvent.id)
        ):
            if _during(row.at, stays[row.serial]):
                detail = {**(row.detail or {}), "via_case": True, "case_serial": row.serial}
                events.append({"type": row.type, "at": row.at, "detail": detail})
    events.sort(key=lambda e: e["at"])
    return {
        "token": code,
        "batch_id": batch.id,
        "serial": serial,
        "verdict": found.verdict,
        "case_serial": current_case,
        "events": events,
    }
