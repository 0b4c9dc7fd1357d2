"""Binding a new consumer to its referrer, once.

Refusals, each a 409 with its own code: already bound (`already_bound`), its own code
(`self_referral`), a referrer that descends from this consumer, anywhere up its chain (`cyclic`),
a consumer that has scanned or ordered already (`not_new`), a referrer past its daily number of
new bindings (`daily_limit`). The binding's primary key (the referee) decides between two requests
binding one consumer at once; the two consumers' code rows are locked, in id order, before the
chain is read, so two consumers binding to each other at once cannot both pass the cycle check.

A binding bumps the scan path's `referees` area (loyalty/referral/triggers.py), so that every
process learns the new referee before its first scan.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import Session

from codes import catalog
from codes.models import Scan
from db import insert_ignore, utcnow
from errors import Conflict
from locale_format import shanghai
from loyalty.models import Blacklist
from loyalty.referral import links
from loyalty.referral.models import Binding, BindingCount, ReferralCode
from loyalty.referral.triggers import REFEREES
from storefront.models import Order

MAX_CHAIN = 10_000  # a chain longer than this is a bug, not a referral tree


class AlreadyBound(Conflict):
    code, message = "already_bound", "You are already bound to a referrer."


class SelfReferral(Conflict):
    code, message = "self_referral", "That is your own referral code."


class Cyclic(Conflict):
    code, message = "cyclic", "That consumer was referred by you, directly or further down; binding would make a loop."


class NotNew(Conflict):
    code, message = "not_new", "Only new consumers (no scan and no order yet) can bind to a referrer."


class DailyLimit(Conflict):
    code, message = "daily_limit", "This referrer has brought as many new consumers as it may today; try tomorrow."


def referrer_of(session: Session, consumer_id: str) -> str | None:
    return session.scalar(select(Binding.referrer_id).where(Binding.referee_id == consumer_id))


def ancestors(session: Session, consumer_id: str) -> list[str]:
    """The consumer's referrer, its referrer's referrer, ... to the top of the chain."""
    chain, current = [], consumer_id
    while len(chain) < MAX_CHAIN:
        current = referrer_of(session, current)
        if current is None or current in chain:
            break
        chain.append(current)
    return chain


def is_new(session: Session, consumer_id: str) -> bool:
    scanned = exists().where(Scan.consumer_id == consumer_id)
    ordered = exists().where(Order.consumer_id == consumer_id)
    return not session.scalar(select(scanned | ordered))


def bind(session: Session, consumer_id: str, code: str, *, daily_limit: int) -> Binding:
    """Bind the consumer to the owner of `code`; commits. Raises the refusals above, or NotFound."""
    referrer_id = links.owner_of(session, code)
    if referrer_id == consumer_id:
        raise SelfReferral()
    links.code_of(session, consumer_id)
    list(  # lock both code rows, in id order (no-op on SQLite, whose writers take turns anyway)
        session.scalars(
            select(ReferralCode.consumer_id)
            .where(ReferralCode.consumer_id.in_(sorted({consumer_id, referrer_id})))
            .order_by(ReferralCode.consumer_id)
            .with_for_update()
        )
    )
    if referrer_of(session, consumer_id) is not None:
        raise AlreadyBound()
    chain = ancestors(session, referrer_id)
    if consumer_id in chain:
        raise Cyclic()
    if not is_new(session, consumer_id):
        raise NotNew()
    day = shanghai(utcnow()).date().isoformat()
    insert_ignore(
        session,
        BindingCount.__table__,
        [{"referrer_id": referrer_id, "day": day, "count": 0}],
        ["referrer_id", "day"],
    )
    counted = session.execute(
        update(BindingCount)
        .where(and_(BindingCount.referrer_id == referrer_id, BindingCount.day == day, BindingCount.count < daily_limit))
        .values(count=BindingCount.count + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if counted != 1:
        session.rollback()
        raise DailyLimit()
    insert_ignore(
        session,
        Binding.__table__,
        [
            {
                "referee_id": consumer_id,
                "referrer_id": referrer_id,
                "referrer2_id": chain[0] if chain else None,
                "bound_at": utcnow(),
            }
        ],
        ["referee_id"],
    )
    binding = session.scalar(
        select(Binding).where(Binding.referee_id == consumer_id).execution_options(populate_existing=True)
    )
    if binding.referrer_id != referrer_id or binding.bound_at is None:
        session.rollback()
        raise AlreadyBound()
    catalog.bump(session, REFEREES)
    session.commit()
    return binding


def referrers_for_order(session: Session, *, consumer_id: str, brand_id: str):
    """storefront's referrers_for_order receiver: (referrer, referrer's referrer) of the consumer, for
    its new order; a referrer the brand has blacklisted gets nothing (nor does anyone above it)."""
    binding = session.get(Binding, consumer_id)
    if binding is None:
        return None
    barred = set(
        session.scalars(
            select(Blacklist.consumer_id).where(
                Blacklist.brand_id == brand_id,
                Blacklist.consumer_id.in_([c for c in (consumer_id, binding.referrer_id, binding.referrer2_id) if c]),
            )
        )
    )
    if consumer_id in barred or binding.referrer_id in barred:
        return None
    return binding.referrer_id, (None if binding.referrer2_id in barred else binding.referrer2_id)
