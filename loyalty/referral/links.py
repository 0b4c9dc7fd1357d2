"""Referral codes and links: every consumer has one code, made the first time it is asked for.

A code is 8 characters of an alphabet without look-alikes (32^8, about 10^12), drawn at random: it
says nothing about the consumer's id and cannot be walked. Two requests making a consumer's first
code race on the primary key (INSERT ... ON CONFLICT DO NOTHING, then read): both get the winner's.
(A draw equal to another consumer's code, about one in 10^12, fails that request on the unique code.)
"""

from __future__ import annotations

import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import insert_ignore, utcnow
from errors import NotFound
from loyalty.referral.models import Binding, ReferralCode

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I
LENGTH = 8


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def code_of(session: Session, consumer_id: str) -> str:
    """The consumer's code, made now if it has none (in the caller's transaction, flushed)."""
    found = session.scalar(select(ReferralCode.code).where(ReferralCode.consumer_id == consumer_id))
    if found is None:
        insert_ignore(
            session,
            ReferralCode.__table__,
            [{"consumer_id": consumer_id, "code": new_code(), "created_at": utcnow()}],
            ["consumer_id"],
        )
        found = session.scalar(select(ReferralCode.code).where(ReferralCode.consumer_id == consumer_id))
    return found


def owner_of(session: Session, code: str) -> str:
    """The consumer whose code this is, or NotFound."""
    owner = session.scalar(select(ReferralCode.consumer_id).where(ReferralCode.code == clean(code)))
    if owner is None:
        raise NotFound("No such referral code.", fields={"code": ["Unknown referral code."]})
    return owner


def clean(code: str) -> str:
    return code.strip().upper()


def link(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/r/{code}"


def summary(session: Session, consumer_id: str, base_url: str) -> dict:
    """GET /me/referral: the consumer's code and link, its own referrer, how many it has brought, and
    what its commissions earned (granted, less what refunds took back). Commits a new code."""
    from loyalty.referral.rewards import earned_fen

    code = code_of(session, consumer_id)
    session.commit()
    referrer_id = session.scalar(select(Binding.referrer_id).where(Binding.referee_id == consumer_id))
    referees = session.scalar(select(func.count()).select_from(Binding).where(Binding.referrer_id == consumer_id))
    return {
        "code": code,
        "link": link(base_url, code),
        "referrer_id": referrer_id,
        "referees": int(referees or 0),
        "earned_fen": earned_fen(session, consumer_id),
    }
