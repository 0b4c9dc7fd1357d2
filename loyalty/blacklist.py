"""A brand's blacklist: consumers whose scans are still recorded but earn none of the brand's rewards.
The scan path reads it through its catalog (loyalty/scanning/catalog.py): every change bumps the
catalog's blacklist area in the same transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from codes import catalog
from db import insert_ignore
from errors import NotFound
from identity.models import Consumer
from loyalty.models import Blacklist
from loyalty.scanning.catalog import BLACKLIST
from pagination import keyset_page


def add(session: Session, brand_id: str, consumer_id: str, reason: str | None) -> Blacklist:
    """Blacklist a consumer (again: the first entry and its reason stay)."""
    if session.get(Consumer, consumer_id) is None:
        raise NotFound("No such consumer.", fields={"consumer_id": ["Unknown consumer."]})
    insert_ignore(
        session,
        Blacklist.__table__,
        [{"brand_id": brand_id, "consumer_id": consumer_id, "reason": reason}],
        ["brand_id", "consumer_id"],
    )
    catalog.bump(session, BLACKLIST)
    session.commit()
    return session.scalar(select(Blacklist).where(Blacklist.brand_id == brand_id, Blacklist.consumer_id == consumer_id))


def entries(session: Session, brand_id: str, limit: int, cursor: str | None):
    """The brand's blacklist, newest first, one keyset page: (entries, next_cursor)."""
    query = select(Blacklist).where(Blacklist.brand_id == brand_id)
    return keyset_page(session, query, [Blacklist.id], limit, cursor)


def remove(session: Session, brand_id: str, consumer_id: str) -> None:
    row = session.scalar(select(Blacklist).where(Blacklist.brand_id == brand_id, Blacklist.consumer_id == consumer_id))
    if row is None:
        raise NotFound("This consumer is not on the blacklist.")
    session.delete(row)
    catalog.bump(session, BLACKLIST)
    session.commit()
