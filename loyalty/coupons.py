"""The consumer's wallet and the store till: issue, redeem exactly once, expire.

Every status change is a conditional UPDATE (`transition`): redemption is `UPDATE coupons SET
status='redeemed' WHERE id=:id AND status='issued'`, so of two tills submitting the same coupon at
once, one wins and the other gets 409. The winner's
reimbursement (brand and free-item coupons) moves campaign reserve -> store pending in the same
transaction, with the coupon as idempotency key.
"""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db import new_id, utcnow
from errors import Conflict, NotFound
from identity.services import is_partner
from loyalty import campaigns
from loyalty.campaigns import reserve_account
from loyalty.models import Coupon, CouponStatus, RewardKind
from pagination import keyset_page
from storefront.ledger import accounts, settlement, transfers
from storefront.ledger.models import LedgerKind

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
REDEEMABLE = (RewardKind.BRAND_COUPON, RewardKind.STORE_COUPON, RewardKind.FREE_ITEM)
BUDGETED = (RewardKind.BRAND_COUPON, RewardKind.FREE_ITEM)


class AlreadyRedeemed(Conflict):
    code, message = "already_redeemed", "This coupon has already been redeemed."


class CouponExpired(Conflict):
    code, message = "expired", "This coupon has expired."


class CouponRevoked(Conflict):
    code, message = "revoked", "This coupon was revoked."


class CouponHeld(Conflict):
    code, message = "held", "This coupon is held by an unpaid order."


class WrongStore(Conflict):
    code, message = "wrong_store", "This coupon is not valid at this store."


class NotRedeemable(Conflict):
    code, message = "not_redeemable", "Points are credited to the wallet; they are not redeemed at a till."


COUPON_COLUMNS = tuple(c.name for c in Coupon.__table__.columns)  # coupon_row's keys, in the table's order
_FROM_BASE32 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", CODE_ALPHABET)


def new_coupon_code() -> str:
    """12 random characters of CODE_ALPHABET (60 bits): one random read, each base32 digit one character."""
    return base64.b32encode(secrets.token_bytes(10)).decode()[:12].translate(_FROM_BASE32)


def coupon_row(
    *,
    consumer_id: str,
    campaign,
    serial: int | None,
    tier: int | None,
    kind: str,
    value_fen: int,
    budget_fen: int,
    min_spend_fen: int,
    valid_days: int,
    store_id: str | None,
    product_id: str | None,
) -> dict:
    """A new coupon's columns, for a multi-row INSERT into coupons."""
    now = utcnow()
    return {
        "id": new_id("cu"),
        "code": new_coupon_code(),
        "consumer_id": consumer_id,
        "brand_id": campaign.brand_id,
        "campaign_id": campaign.id,
        "serial": serial,
        "tier": tier,
        "kind": kind,
        "value_fen": value_fen,
        "budget_fen": budget_fen,
        "min_spend_fen": min_spend_fen,
        "store_id": store_id,
        "product_id": product_id,
        "status": CouponStatus.ISSUED,
        "order_id": None,
        "issued_at": now,
        "expires_at": now + timedelta(days=valid_days),
        "redeemed_at": None,
        "redeemed_store_id": None,
        "reimbursed_fen": 0,
    }


_TRANSITIONS = {  # (from, to): the coupon's status machine
    (CouponStatus.ISSUED, CouponStatus.REDEEMED),  # at a till
    (CouponStatus.ISSUED, CouponStatus.EXPIRED),  # the expiry sweep
    (CouponStatus.ISSUED, CouponStatus.HELD),  # an order awaiting payment (loyalty/order_coupons.py)
    (CouponStatus.HELD, CouponStatus.REDEEMED),  # the order paid
    (CouponStatus.HELD, CouponStatus.ISSUED),  # the order expired or was cancelled
    (CouponStatus.REDEEMED, CouponStatus.ISSUED),  # the order that used it refunded
}


def transition(
    session: Session, coupon_id: str, from_status: CouponStatus, to_status: CouponStatus, *conditions, **values
) -> bool:
    """The one way a coupon's status changes: `UPDATE coupons SET status = to_status, values... WHERE
    id = coupon_id AND status = from_status AND conditions...`; whether it won (the database decides
    between two tills, an order and the expiry sweep)."""
    assert (from_status, to_status) in _TRANSITIONS, (from_status, to_status)
    return (
        session.execute(
            update(Coupon)
            .where(Coupon.id == coupon_id, Coupon.status == from_status, *conditions)
            .values(status=to_status, **values)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def describe(coupon) -> dict:
    """A coupon (row or copy) as the API shows it (loyalty.schemas.CouponOut)."""
    return {
        "coupon_id": coupon.id,
        "code": coupon.code,
        "kind": coupon.kind,
        "value_fen": coupon.value_fen,
        "min_spend_fen": coupon.min_spend_fen,
        "status": coupon.status,
        "issuer": coupon.brand_id,
        "brand_id": coupon.brand_id,
        "store_id": coupon.store_id,
        "campaign_id": coupon.campaign_id,
        "issued_at": coupon.issued_at,
        "expires_at": coupon.expires_at,
        "redeemed_at": coupon.redeemed_at,
    }


def wallet(session: Session, consumer_id: str, status: str | None, limit: int, cursor: str | None):
    query = select(Coupon).where(Coupon.consumer_id == consumer_id)
    if status:
        query = query.where(Coupon.status == status)
    rows, next_cursor = keyset_page(session, query, [Coupon.issued_at, Coupon.id], limit, cursor)
    return {"items": [describe(c) for c in rows], "next_cursor": next_cursor}


def redeemed_at_store(session: Session, store_id: str, limit: int, cursor: str | None):
    """The coupons redeemed at this store, the latest first, one keyset page: (coupons, next_cursor)."""
    query = select(Coupon).where(
        Coupon.redeemed_store_id == store_id,
        Coupon.status == CouponStatus.REDEEMED,
        Coupon.redeemed_at.is_not(None),
    )
    return keyset_page(session, query, [Coupon.redeemed_at, Coupon.id], limit, cursor)


def redeem(session: Session, store_id: str, coupon_code: str, *, settle_delay_seconds: int) -> dict:
    coupon = session.scalar(select(Coupon).where(Coupon.code == coupon_code.strip().upper()))
    if coupon is None:
        raise NotFound("No such coupon.", fields={"coupon_code": ["Unknown coupon code."]})
    if coupon.kind not in REDEEMABLE:
        raise NotRedeemable()
    _refuse_unless_issued(coupon)
    if coupon.expires_at <= utcnow():
        raise CouponExpired()
    if coupon.kind == RewardKind.STORE_COUPON:
        if coupon.store_id != store_id:
            raise WrongStore("This store coupon is only valid at the store that issued it.")
    elif not is_partner(session, coupon.brand_id, store_id):
        raise WrongStore("This store is not a partner of the coupon's brand.")
    now = utcnow()
    won = transition(
        session,
        coupon.id,
        CouponStatus.ISSUED,
        CouponStatus.REDEEMED,
        Coupon.expires_at > now,
        redeemed_at=now,
        redeemed_store_id=store_id,
    )
    if not won:  # another till, an order or the expiry sweep got there first: say which
        session.rollback()
        session.refresh(coupon)
        _refuse_unless_issued(coupon)
        raise CouponExpired()
    legs = reimbursement_legs(session, coupon, store_id, use="till", delay_seconds=settle_delay_seconds)
    if legs:
        transfers.transfer_many(
            session,
            legs,
            key=reimbursement_key(coupon.id, "till"),
            kind=LedgerKind.COUPON_REIMBURSEMENT,
            reference=coupon.code,
            metadata={"coupon_id": coupon.id, "campaign_id": coupon.campaign_id},
        )
    session.commit()
    return {
        "coupon_id": coupon.id,
        "kind": coupon.kind,
        "value_fen": coupon.value_fen,
        "reimbursed_fen": coupon.reimbursed_fen,
        "min_spend_fen": coupon.min_spend_fen,
        "redeemed_at": now,
    }


def reimbursement_key(coupon_id: str, use: str) -> str:
    """The store credit for one use of a coupon ("till", or the order it paid part of)."""
    return f"coupon:{coupon_id}:reimburse:{use}"


def reimbursement_legs(session: Session, coupon: Coupon, store_id: str, use: str, *, delay_seconds: int) -> list:
    """For a coupon just used at `store_id`: book the campaign's spend and return the ledger legs
    (campaign reserve -> store pending) that reimburse the store; the store's credit settles later.

    Lock order everywhere: coupon, then campaign row, then ledger accounts.
    """
    if coupon.kind not in BUDGETED or coupon.budget_fen <= 0:
        return []
    amount = coupon.budget_fen
    campaigns.spend(session, coupon.campaign_id, amount)
    session.execute(
        update(Coupon)
        .where(Coupon.id == coupon.id)
        .values(reimbursed_fen=amount)
        .execution_options(synchronize_session=False)
    )
    coupon.reimbursed_fen = amount
    settlement.schedule(
        session,
        store_id,
        amount,
        key=reimbursement_key(coupon.id, use),
        kind=LedgerKind.COUPON_REIMBURSEMENT,
        reference=coupon.code if use == "till" else use,  # an order's: held with it while a refund is open
        delay_seconds=delay_seconds,
    )
    return [(reserve_account(coupon.campaign_id), accounts.store_account(store_id, "pending"), amount)]


def _refuse_unless_issued(coupon: Coupon) -> None:
    refusal = {
        CouponStatus.REDEEMED: AlreadyRedeemed,
        CouponStatus.EXPIRED: CouponExpired,
        CouponStatus.REVOKED: CouponRevoked,
        CouponStatus.HELD: CouponHeld,
    }.get(coupon.status)
    if refusal:
        raise refusal()


def expire_due(session: Session, batch_size: int = 500) -> int:
    """Sweep: coupons past expires_at become expired, once; their budget share is released."""
    expired = 0
    while True:
        ids = list(
            session.scalars(
                select(Coupon.id)
                .where(Coupon.status == CouponStatus.ISSUED, Coupon.expires_at <= utcnow())
                .order_by(Coupon.expires_at)
                .limit(batch_size)
            )
        )
        if not ids:
            return expired
        for coupon_id in ids:  # one per transaction: never hold one campaign's rows while taking another's
            expired += _expire_one(session, coupon_id)
            session.commit()


def _expire_one(session: Session, coupon_id: str) -> int:
    if not transition(session, coupon_id, CouponStatus.ISSUED, CouponStatus.EXPIRED):
        return 0
    coupon = session.get(Coupon, coupon_id)
    if coupon.kind in BUDGETED and coupon.budget_fen > 0 and coupon.campaign_id:
        campaigns.release_commitment(
            session, coupon.campaign_id, coupon.budget_fen, key=f"coupon:{coupon.id}:release", reference=coupon.code
        )
    return 1
