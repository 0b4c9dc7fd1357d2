"""Binding a case and the items packed in it to the store that received it (进货扫码).

The case's binding is claimed with a conditional UPDATE (bound_store_id IS NULL), so two tills
scanning the same case at once bind it once; the items follow in one UPDATE, and the case's history
gets a `received` event. The receipt itself, its rebate and any diversion alert are storefront's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from codes.aggregation import ensure_code_rows
from codes.models import Code, CodeEvent, CodeEventType
from codes.verify import Verification


def bind_case(
    session: Session, found: Verification, *, store_id: str, store_region: str | None, diversion: bool, at: datetime
) -> int | None:
    """Bind the case `found` and its unbound items to the store; how many items were bound, or None
    (nothing written) when the case is already bound, to this store or another. Does not commit."""
    ensure_code_rows(session, [found])
    won = (
        session.execute(
            update(Code)
            .where(Code.serial == found.serial, Code.bound_store_id.is_(None))
            .values(bound_store_id=store_id, bound_at=at)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )
    if not won:
        return None
    bound = session.execute(
        update(Code)
        .where(Code.parent_serial == found.serial, Code.bound_store_id.is_(None))
        .values(bound_store_id=store_id, bound_at=at)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.add(
        CodeEvent(
            serial=found.serial,
            type=CodeEventType.RECEIVED,
            at=at,
            detail={"store_id": store_id, "store_region": store_region, "items": bound, "diversion": diversion},
        )
    )
    return bound
