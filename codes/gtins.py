"""GTIN ownership: a GTIN belongs to one brand, so no tenant can mint genuine codes for another's.

A brand owns a GTIN by registering it first (a row in `gtins`, whose primary key decides between
brands racing for it) or by holding the GS1 company prefix it falls under (`gs1_prefixes`, assigned
by the operator). Prefixes and claims are checked against each other, so every change of ownership
runs one at a time: on PostgreSQL under a transaction-scoped advisory lock, on SQLite under its one
writer (BEGIN IMMEDIATE).

A company prefix is matched against the GTIN-14 without its indicator digit (`gtin14[1:]`): the
GTIN-13 for GTIN-13s, "0" + the U.P.C. company prefix for GTIN-12s.
"""

from __future__ import annotations

import re

from sqlalchemy import or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codes.models import Gs1Prefix, Gtin
from db import insert_ignore, is_postgres, utcnow
from errors import Conflict, NotFound, invalid
from identity.models import Brand

PREFIX_RE = re.compile(r"[0-9]{6,12}")
_LOCK = 0x67746E73  # pg_advisory_xact_lock key of ownership changes ("gtns")


class GtinTaken(Conflict):
    code, message = "gtin_taken", "This GTIN belongs to another brand."


class PrefixTaken(Conflict):
    code, message = "prefix_taken", "This GS1 company prefix overlaps one of another brand's."


def _one_at_a_time(session: Session) -> None:
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})


def _prefix_holder(session: Session, gtin14: str) -> str | None:
    company = gtin14[1:]
    candidates = [company[:n] for n in range(6, 13)]
    return session.scalar(select(Gs1Prefix.brand_id).where(Gs1Prefix.prefix.in_(candidates)).limit(1))


def claim(session: Session, brand_id: str, gtin14: str) -> None:
    """Make the GTIN-14 this brand's (it may already be), or raise GtinTaken. Does not commit: the
    claim commits with the caller's product."""
    _one_at_a_time(session)
    holder = _prefix_holder(session, gtin14)
    if holder is not None and holder != brand_id:
        raise GtinTaken(
            "This GTIN is under another brand's GS1 company prefix.", fields={"gtin": ["Under another brand's prefix."]}
        )
    insert_ignore(session, Gtin.__table__, [{"gtin": gtin14, "brand_id": brand_id, "created_at": utcnow()}], ["gtin"])
    if session.scalar(select(Gtin.brand_id).where(Gtin.gtin == gtin14)) != brand_id:
        raise GtinTaken(fields={"gtin": ["Registered by another brand."]})


def ensure_owned(session: Session, brand_id: str, gtin14: str) -> None:
    """GtinTaken unless the brand owns the GTIN (a product registered before ownership was kept may not)."""
    owner = session.scalar(select(Gtin.brand_id).where(Gtin.gtin == gtin14))
    if owner != brand_id:
        raise GtinTaken(
            "The product's GTIN belongs to another brand; it cannot carry GS1 codes.",
            fields={"format": ["The product's GTIN is another brand's."]},
        )


def assign_prefix(session: Session, brand_id: str, prefix: str) -> Gs1Prefix:
    """Give a GS1 company prefix to a brand (again: no change). 409 prefix_taken when it overlaps
    another brand's prefix (one is a prefix of the other) or another brand holds GTINs under it."""
    if not PREFIX_RE.fullmatch(prefix):
        raise invalid("prefix", "A GS1 company prefix is 6 to 12 digits 0-9.")
    if session.get(Brand, brand_id) is None:
        raise NotFound("No such brand.")
    _one_at_a_time(session)
    overlapping = session.scalars(
        select(Gs1Prefix).where(
            or_(
                Gs1Prefix.prefix.in_([prefix[:n] for n in range(6, len(prefix) + 1)]),
                Gs1Prefix.prefix.startswith(prefix),
            )
        )
    ).all()
    others = sorted(p.prefix for p in overlapping if p.brand_id != brand_id)
    if others:
        raise PrefixTaken(fields={"prefix": [f"Overlaps another brand's prefix {', '.join(others[:5])}."]})
    same = next((p for p in overlapping if p.prefix == prefix), None)
    if same is not None:
        return same
    held = session.scalars(
        select(Gtin.gtin).where(Gtin.gtin.like(f"_{prefix}%"), Gtin.brand_id != brand_id).limit(5)
    ).all()
    if held:
        raise PrefixTaken(
            "Another brand holds GTINs under this prefix.",
            fields={"prefix": [f"Another brand holds GTINs under it: {', '.join(held)}."]},
        )
    row = Gs1Prefix(prefix=prefix, brand_id=brand_id, created_at=utcnow())
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # assigned meanwhile (a database without the advisory lock)
        session.rollback()
        raise PrefixTaken(fields={"prefix": ["Assigned meanwhile."]}) from None
    return row
