"""Packing item codes into case codes (GS1 EPCIS AggregationEvent: ADD, DELETE).

An item belongs to at most one case at a time: the database decides with a conditional
UPDATE, so two packers racing for the same bottle cannot both win.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from codes.models import BatchKind, Code, CodeEvent, CodeEventType, Verdict
from codes.verify import Verification, own_code, verify
from db import insert_ignore, utcnow
from errors import Conflict, ValidationFailed

MAX_CHILDREN = 10_000


def ensure_code_rows(session: Session, found: list[Verification]) -> None:
    insert_ignore(
        session,
        Code.__table__,
        [{"serial": v.serial, "batch_id": v.batch.id, "scan_count": 0} for v in found],
        ["serial"],
    )


def _resolve(session: Session, brand_id: str, parent: str, children: list[str]):
    if not 1 <= len(children) <= MAX_CHILDREN:
        raise ValidationFailed({"children": [f"Between 1 and {MAX_CHILDREN:,} codes."]})
    case = own_code(session, brand_id, parent, field="parent")
    if case.batch.kind != BatchKind.CASE:
        raise ValidationFailed({"parent": ["The parent must be a code from a 'case' batch."]})
    if case.verdict == Verdict.VOIDED:
        raise Conflict("The case code is voided.", fields={"parent": ["Voided."]})
    items, bad, seen = [], {}, set()
    for i, raw in enumerate(children):
        # own_code() refreshed the catalog in this transaction; the items' own rows are not needed here.
        found = verify(session, raw, refresh=False, load_code=False)
        if found.batch is None:
            bad[str(i)] = "not a valid code"
        elif found.batch.brand_id != brand_id:
            bad[str(i)] = "not your code"
        elif found.batch.kind != BatchKind.ITEM:
            bad[str(i)] = "not an item code"
        elif found.verdict == Verdict.VOIDED:
            bad[str(i)] = "voided"
        elif found.serial in seen:
            bad[str(i)] = "listed twice"
        else:
            seen.add(found.serial)
            items.append(found)
    if bad:
        raise ValidationFailed({"children": [f"children[{k}]: {v}" for k, v in list(bad.items())[:50]]})
    return case, items


def aggregate(session: Session, brand_id: str, parent: str, children: list[str], action: str = "pack") -> dict:
    case, items = _resolve(session, brand_id, parent, children)
    serials = [v.serial for v in items]
    ensure_code_rows(session, [case] + items)
    now = utcnow()
    if action == "pack":
        stmt = (
            update(Code)
            .where(Code.serial.in_(serials), (Code.parent_serial.is_(None)) | (Code.parent_serial == case.serial))
            .values(parent_serial=case.serial)
            .execution_options(synchronize_session=False)
        )
        if session.execute(stmt).rowcount != len(serials):
            session.rollback()
            taken = session.scalars(
                select(Code.serial).where(
                    Code.serial.in_(serials), Code.parent_serial.is_not(None), Code.parent_serial != case.serial
                )
            )
            raise Conflict(
                "Some items are already packed in another case; unpack or repack them.",
                fields={"children": [f"serial {s} is in another case" for s in list(taken)[:50]]},
            )
        events = [(CodeEventType.PACKED, s, {"case_serial": case.serial}) for s in serials]
    elif action == "unpack":
        stmt = (
            update(Code)
            .where(Code.serial.in_(serials), Code.parent_serial == case.serial)
            .values(parent_serial=None)
            .execution_options(synchronize_session=False)
        )
        if session.execute(stmt).rowcount != len(serials):
            session.rollback()
            raise Conflict("Some items are not in this case.", fields={"children": ["Not all are packed in parent."]})
        events = [(CodeEventType.UNPACKED, s, {"case_serial": case.serial}) for s in serials]
    else:  # repack: move into this case from wherever they were
        previous = dict(session.execute(select(Code.serial, Code.parent_serial).where(Code.serial.in_(serials))).all())
        session.execute(
            update(Code)
            .where(Code.serial.in_(serials))
            .values(parent_serial=case.serial)
            .execution_options(synchronize_session=False)
        )
        events = [
            (CodeEventType.PACKED, s, {"case_serial": case.serial, "from_case_serial": previous.get(s)})
            for s in serials
        ]
    session.add_all([CodeEvent(serial=s, type=t, at=now, detail=d) for t, s, d in events])
    session.add(
        CodeEvent(
            serial=case.serial,
            type=action if action != "repack" else CodeEventType.PACKED,
            at=now,
            detail={"children": len(serials)},
        )
    )
    session.commit()
    contents = session.scalar(select(func.count()).select_from(Code).where(Code.parent_serial == case.serial))
    return {"parent": case.serial, "children": serials, "action": action, "case_contents": contents}
