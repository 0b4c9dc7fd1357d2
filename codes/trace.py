"""A code's whole history, for the brand's investigations: issued, activated or voided, packed, shipped,
received (also through the case it is in), scanned."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from codes.models import LIVE, CodeEvent, CodeEventType, CodeRange, RangeAction, Scan
from codes.verify import own_code


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
    for row in session.scalars(select(CodeEvent).where(CodeEvent.serial == serial)):
        events.append({"type": row.type, "at": row.at, "detail": row.detail or {}})
    scans = session.scalars(
        select(Scan).where(Scan.serial == serial, Scan.verdict.in_(LIVE)).order_by(Scan.id.desc()).limit(100)
    )
    for row in scans:
        events.append(
            {
                "type": "scanned",
                "at": row.at,
                "detail": {"first": row.claimed, "region_code": row.region_code, "consumer": bool(row.consumer_id)},
            }
        )
    if found.code is not None and found.code.parent_serial is not None:
        # Events of the case this item is in (shipped to distributor, received by store) are the item's too.
        for row in session.scalars(
            select(CodeEvent).where(
                CodeEvent.serial == found.code.parent_serial,
                CodeEvent.type.in_((CodeEventType.SHIPPED, CodeEventType.RECEIVED)),
            )
        ):
            events.append({"type": row.type, "at": row.at, "detail": {**(row.detail or {}), "via_case": True}})
    events.sort(key=lambda e: e["at"])
    return {
        "token": code,
        "batch_id": batch.id,
        "serial": serial,
        "verdict": found.verdict,
        "case_serial": found.code.parent_serial if found.code else None,
        "events": events,
    }
