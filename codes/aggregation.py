"""Packing item codes into case codes (GS1 EPCIS AggregationEvent: ADD, DELETE) and trace.

An item belongs to at most one case at a time: the database decides with a conditional
UPDATE, so two packers racing for the same bottle cannot both win.
"""
from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from codes.models import Code, CodeEvent, CodeRange, Scan
from codes.verify import LIVE, Verification, own_code, verify
from db import insert_ignore, isoformat, utcnow
from errors import Conflict, ValidationFailed
from identity.models import Brand

MAX_CHILDREN = 10_000


def ensure_code_rows(session: Session, found: list[Verification]) -> None:
    insert_ignore(session, Code.__table__, [{"serial": v.serial, "batch_id": v.batch.id, "scan_count": 0}
                                            for v in found], ["serial"])


def _resolve(session: Session, brand: Brand, parent: str, children: list[str]):
    if not 1 <= len(children) <= MAX_CHILDREN:
        raise ValidationFailed({"children": [f"Between 1 and {MAX_CHILDREN:,} codes."]})
    case = own_code(session, brand, parent, field="parent")
    if case.batch.kind != "case":
        raise ValidationFailed({"parent": ["The parent must be a code from a 'case' batch."]})
    if case.verdict == "voided":
        raise Conflict("The case code is voided.", fields={"parent": ["Voided."]})
    items, bad, seen = [], {}, set()
    for i, raw in enumerate(children):
        # own_code() refreshed the catalog in this transaction; the items' own rows are not needed here.
        found = verify(session, raw, refresh=False, load_code=False)
        if found.batch is None:
            bad[str(i)] = "not a valid code"
        elif found.batch.brand_id != brand.id:
            bad[str(i)] = "not your code"
        elif found.batch.kind != "item":
            bad[str(i)] = "not an item code"
        elif found.verdict == "voided":
            bad[str(i)] = "voided"
        elif found.serial in seen:
            bad[str(i)] = "listed twice"
        else:
            seen.add(found.serial)
            items.append(found)
    if bad:
        raise ValidationFailed({"children": [f"children[{k}]: {v}" for k, v in list(bad.items())[:50]]})
    return case, items


def aggregate(session: Session, brand: Brand, parent: str, children: list[str], action: str = "pack") -> dict:
    case, items = _resolve(session, brand, parent, children)
    serials = [v.serial for v in items]
    ensure_code_rows(session, [case] + items)
    now = utcnow()
    if action == "pack":
        stmt = (update(Code).where(Code.serial.in_(serials),
                                   (Code.parent_serial.is_(None)) | (Code.parent_serial == case.serial))
                .values(parent_serial=case.serial).execution_options(synchronize_session=False))
        if session.execute(stmt).rowcount != len(serials):
            session.rollback()
            taken = session.scalars(select(Code.serial).where(
                Code.serial.in_(serials), Code.parent_serial.is_not(None), Code.parent_serial != case.serial))
            raise Conflict("Some items are already packed in another case; unpack or repack them.",
                           fields={"children": [f"serial {s} is in another case" for s in list(taken)[:50]]})
        events = [("packed", s, {"case_serial": case.serial}) for s in serials]
    elif action == "unpack":
        stmt = (update(Code).where(Code.serial.in_(serials), Code.parent_serial == case.serial)
                .values(parent_serial=None).execution_options(synchronize_session=False))
        if session.execute(stmt).rowcount != len(serials):
            session.rollback()
            raise Conflict("Some items are not in this case.", fields={"children": ["Not all are packed in parent."]})
        events = [("unpacked", s, {"case_serial": case.serial}) for s in serials]
    else:  # repack: move into this case from wherever they were
        previous = dict(session.execute(select(Code.serial, Code.parent_serial).where(Code.serial.in_(serials))).all())
        session.execute(update(Code).where(Code.serial.in_(serials)).values(parent_serial=case.serial)
                        .execution_options(synchronize_session=False))
        events = [("packed", s, {"case_serial": case.serial, "from_case_serial": previous.get(s)}) for s in serials]
    session.add_all([CodeEvent(serial=s, type=t, at=now, detail=d) for t, s, d in events])
    session.add(CodeEvent(serial=case.serial, type=action if action != "repack" else "packed", at=now,
                          detail={"children": len(serials)}))
    session.commit()
    contents = session.scalar(select(func.count()).select_from(Code)
                              .where(Code.parent_serial == case.serial))
    return {"parent": case.serial, "children": serials, "action": action, "case_contents": contents}


def trace(session: Session, brand: Brand, code: str) -> dict:
    found = own_code(session, brand, code)
    batch, serial = found.batch, found.serial
    events = [{"type": "issued", "at": batch.created_at,
               "detail": {"batch_id": batch.id, "lot": batch.lot, "kind": batch.kind}}]
    for row in session.scalars(select(CodeRange).where(CodeRange.batch_id == batch.id,
                                                       CodeRange.serial_from <= serial, CodeRange.serial_to >= serial)):
        detail = {"range": [row.serial_from, row.serial_to]}
        if row.reason:
            detail["reason"] = row.reason
        events.append({"type": "activated" if row.action == "activate" else "voided", "at": row.at, "detail": detail})
    for row in session.scalars(select(CodeEvent).where(CodeEvent.serial == serial)):
        events.append({"type": row.type, "at": row.at, "detail": row.detail or {}})
    scans = session.scalars(select(Scan).where(Scan.serial == serial, Scan.verdict.in_(LIVE))
                            .order_by(Scan.id.desc()).limit(100))
    for row in scans:
        events.append({"type": "scanned", "at": row.at, "detail": {"first": row.claimed, "region_code": row.region_code,
                                                                   "consumer": bool(row.consumer_id)}})
    if found.code is not None and found.code.parent_serial is not None:
        # Events of the case this item is in (shipped to distributor, received by store) are the item's too.
        for row in session.scalars(select(CodeEvent).where(CodeEvent.serial == found.code.parent_serial,
                                                           CodeEvent.type.in_(("shipped", "received")))):
            events.append({"type": row.type, "at": row.at, "detail": {**(row.detail or {}), "via_case": True}})
    events.sort(key=lambda e: e["at"])
    for event in events:
        event["at"] = isoformat(event["at"])
    return {"token": code, "batch_id": batch.id, "serial": serial, "verdict": found.verdict,
            "case_serial": found.code.parent_serial if found.code else None, "events": events}
