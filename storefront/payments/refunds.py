"""Refunds: a consumer asks, the store that sold it approves or rejects (or nobody decides and it is
approved after REFUND_AUTO_APPROVE_SECONDS), the provider pays it back, and only then is the ledger
reversal posted, once.

    requested -> approved -> processing -> succeeded | failed (retried by the sweep)
    requested -> rejected

Refunds the system owes (a payment for an order that could no longer be paid) start approved.

Money that a refund may claw back is held from the moment it is asked for, under the same ledger
account locks a payout takes: the order's store credits that have not settled stay pending
(`settlement.hold`), and of those that have, up to what the store has available is reserved by a
two-phase pending transfer (which lowers what a payout may take). A payout and a refund therefore
never take the same fen: whichever locks the store's available account first wins it, and the
other sees what is left. The hold is released when the refund is decided against, or when its
reversal is posted (in the same transaction).

A partial refund reverses each share of the order's split in proportion to what is left of it
(largest remainder, so the parts sum exactly to the refund and the last refund empties every
share); the coupon reimbursement and the referrers' commissions go back in the same proportion
(the order_released receivers), and the coupon returns to the wallet when the order is refunded
in full.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

import db
from db import new_id, utcnow
from errors import Conflict, Forbidden, NotFound, invalid
from locale_format import shanghai
from pagination import keyset_page
from storefront import signals, splits
from storefront.ledger import settlement, transfers
from storefront.ledger.accounts import CLEARING, AccountRef, account_name, spendable, store_account
from storefront.ledger.books import lock
from storefront.ledger.models import LedgerKind, SettlementStatus
from storefront.ledger.providers import ProviderUnavailable
from storefront.models import Order, OrderStatus
from storefront.orders import ESCROW, move_order, own_order, receivers
from storefront.orders import describe as describe_order
from storefront.payments.models import (
    OPEN_REFUND,
    ProviderTransaction,
    Refund,
    RefundStatus,
    TransactionKind,
)

if TYPE_CHECKING:
    from storefront.payments.provider import RefundProvider, RefundResult

log = logging.getLogger(__name__)

UNAPPLIED: AccountRef = ("platform", None, "refunds_payable")  # payments we took but could not honour
RETRY_SECONDS = (30, 120, 600, 1800, 3600)  # backoff between provider attempts; the last repeats
REFUNDABLE = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)

_TABLE = Refund.__table__


class RefundStateConflict(Conflict):
    code = "refund_state"


class RefundWindowClosed(Conflict):
    code = "refund_window_closed"


# The states each status may follow (the only way a refund's status changes is `move_refund`).
_FROM = {
    RefundStatus.APPROVED: (RefundStatus.REQUESTED, RefundStatus.PROCESSING),
    RefundStatus.REJECTED: (RefundStatus.REQUESTED,),
    RefundStatus.PROCESSING: (RefundStatus.APPROVED, RefundStatus.FAILED, RefundStatus.PROCESSING),
    RefundStatus.SUCCEEDED: (RefundStatus.PROCESSING,),
    RefundStatus.FAILED: (RefundStatus.PROCESSING,),
}


def move_refund(session: Session, refund_id: str, to: RefundStatus, *where, **values) -> bool:
    """Conditional UPDATE to `to` from the states it may follow (and `where`); True if this transaction won."""
    return (
        session.execute(
            update(Refund)
            .where(Refund.id == refund_id, Refund.status.in_(_FROM[to]), *where)
            .values(status=to, **values)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=RETRY_SECONDS[min(max(attempts, 1), len(RETRY_SECONDS)) - 1])


def describe(refund: Refund) -> dict:
    return {
        "id": refund.id,
        "order_id": refund.order_id,
        "store_id": refund.store_id,
        "status": refund.status,
        "amount_fen": refund.amount_fen,
        "reason": refund.reason,
        "system": refund.system,
        "decided_by": refund.decided_by,
        "note": refund.note,
        "attempts": refund.attempts,
        "last_error": refund.last_error,
        "requested_at": refund.requested_at,
        "decided_at": refund.decided_at,
        "finished_at": refund.finished_at,
        "auto_approve_at": refund.due_at if refund.status == RefundStatus.REQUESTED else None,
    }


def order_refunds(session: Session, order_id: str) -> list[dict]:
    rows = session.scalars(select(Refund).where(Refund.order_id == order_id).order_by(Refund.requested_at, Refund.id))
    return [describe(r) for r in rows]


# --- asking ----------------------------------------------------------------------------------------


def _hold_store_money(session: Session, order: Order, refund_id: str, amount_fen: int) -> tuple[list[int], str | None]:
    """Keep what this refund may claw back from the store out of a payout's reach (module docstring).
    Returns (settlement rows held from settling, the pending transfer reserving available money)."""
    rows = settlement.hold(session, order.store_id, order.id)
    held_rows = [r["id"] for r in rows if r["status"] == SettlementStatus.PENDING]
    left = order.amount_fen - order.refunded_fen
    exposure = sum(
        min(r["amount_fen"] - r["reversed_fen"], -(-(r["amount_fen"] - r["reversed_fen"]) * amount_fen // left))
        for r in rows
        if r["status"] == SettlementStatus.SETTLED
    )
    if exposure <= 0:
        return held_rows, None
    available = store_account(order.store_id, "available")
    lock(session, [available, CLEARING])
    take = min(exposure, spendable(session, available))
    if take <= 0:
        return held_rows, None
    hold = transfers.transfer(
        session,
        available,
        CLEARING,
        take,
        key=f"refund:{refund_id}:hold",
        kind=LedgerKind.REFUND_HOLD,
        reference=order.id,
        pending=True,
    )
    return held_rows, hold.id


def request_refund(
    session: Session,
    consumer_id: str,
    order_id: str,
    reason: str,
    amount_fen: int | None = None,
    *,
    window_seconds: int,
    auto_approve_seconds: int,
) -> Refund:
    """The consumer asks for `amount_fen` (default: all that is left) of a paid order back; commits.
    The store may decide until `auto_approve_seconds` have passed; then it is approved."""
    order = own_order(session, consumer_id, order_id)
    now = utcnow()
    if order.status == OrderStatus.REFUND_REQUESTED:
        raise RefundStateConflict("A refund of this order is already open; wait for it to be decided.")
    if order.status == OrderStatus.REFUNDED:
        raise RefundStateConflict("This order has been refunded in full.")
    if order.status not in REFUNDABLE:
        raise RefundStateConflict(f"Only a paid order can be refunded; this one is {order.status}.")
    if order.group_id and not order.split:
        raise RefundStateConflict(
            "This group-buy order waits for its group: if the group does not fill in time it is refunded in full."
        )
    closes = (order.paid_at or now) + timedelta(seconds=window_seconds)
    if closes <= now:
        raise RefundWindowClosed(f"This order's refund window closed at {closes.isoformat(timespec='seconds')}Z.")
    left = order.amount_fen - order.refunded_fen
    amount = left if amount_fen is None else amount_fen
    if amount > left:
        raise invalid("amount_fen", f"At most {left} fen of this order can still be refunded.")
    if not move_order(session, order.id, OrderStatus.REFUND_REQUESTED):
        session.rollback()
        raise RefundStateConflict("The order changed meanwhile; look at it again.")
    refund_id = new_id("rf")
    held_rows, hold_id = _hold_store_money(session, order, refund_id, amount)
    refund = Refund(
        id=refund_id,
        order_id=order.id,
        consumer_id=order.consumer_id,
        store_id=order.store_id,
        transaction_id=order.transaction_id,
        amount_fen=amount,
        reason=reason,
        system=False,
        status=RefundStatus.REQUESTED,
        hold_transfer_id=hold_id,
        attempts=0,
        due_at=now + timedelta(seconds=auto_approve_seconds),
        parts={"held_rows": held_rows},
        requested_at=now,
    )
    session.add(refund)
    session.commit()
    return refund


def refund_unapplied_payment(session: Session, order: Order, transaction_id: str, amount_fen: int, why: str) -> Refund:
    """A payment we took but cannot honour (its order expired or was paid already) is owed back:
    the money is booked as payable to the payer, and a system refund starts approved. In the
    caller's transaction; the caller commits and then calls `enqueue`."""
    refund_id = new_id("rf")
    transfers.transfer(
        session,
        CLEARING,
        UNAPPLIED,
        amount_fen,
        key=f"unapplied:{transaction_id}",
        kind=LedgerKind.PAYMENT_UNAPPLIED,
        reference=order.id,
        metadata={"transaction_id": transaction_id},
    )
    refund = Refund(
        id=refund_id,
        order_id=order.id,
        consumer_id=order.consumer_id,
        store_id=order.store_id,
        transaction_id=transaction_id,
        amount_fen=amount_fen,
        reason=why,
        system=True,
        status=RefundStatus.APPROVED,
        decided_by="system",
        decided_at=utcnow(),
        attempts=0,
        due_at=utcnow(),
        parts={"unapplied": True},
        requested_at=utcnow(),
    )
    session.add(refund)
    session.flush()
    return refund


def refund_in_full(session: Session, order_id: str, reason: str) -> str | None:
    """A refund the system owes of everything paid for an order (its group failed): approved from
    the start, at most one per order (its id is derived from the order's), in the caller's
    transaction; the caller enqueues it after commit. Returns its id, or None when the order is not
    paid or already has one."""
    refund_id = f"rfs_{order_id}"[:32]
    if session.get(Refund, refund_id) is not None:
        return None
    if not move_order(session, order_id, OrderStatus.REFUND_REQUESTED):
        return None
    order = session.get(Order, order_id)
    now = utcnow()
    session.add(
        Refund(
            id=refund_id,
            order_id=order.id,
            consumer_id=order.consumer_id,
            store_id=order.store_id,
            transaction_id=order.transaction_id,
            amount_fen=order.amount_fen - order.refunded_fen,
            reason=reason,
            system=True,
            status=RefundStatus.APPROVED,
            decided_by="system",
            decided_at=now,
            attempts=0,
            due_at=now,
            parts={},
            requested_at=now,
        )
    )
    session.flush()
    return refund_id


# --- deciding --------------------------------------------------------------------------------------


def own_refund(session: Session, store_id: str, refund_id: str) -> Refund:
    refund = session.get(Refund, refund_id)
    if refund is None:
        raise NotFound("No such refund.")
    if refund.store_id != store_id:
        raise Forbidden("This refund is for another store's order.")
    return refund


def store_refunds(session: Session, store_id: str, status: str | None, limit: int, cursor: str | None):
    query = select(Refund).where(Refund.store_id == store_id)
    if status:
        query = query.where(Refund.status == status)
    rows, next_cursor = keyset_page(session, query, [Refund.requested_at, Refund.id], limit, cursor)
    return [describe(r) for r in rows], next_cursor


def failed_refunds(session: Session, status: str | None, limit: int, cursor: str | None):
    """For the operator: refunds the provider has not completed (by default failed ones)."""
    query = select(Refund).where(Refund.status == (status or RefundStatus.FAILED))
    rows, next_cursor = keyset_page(session, query, [Refund.requested_at, Refund.id], limit, cursor)
    return [
        {**describe(r), "consumer_id": r.consumer_id, "transaction_id": r.transaction_id} for r in rows
    ], next_cursor


def _release_hold(session: Session, refund: Refund) -> None:
    settlement.release(session, (refund.parts or {}).get("held_rows", []))
    if refund.hold_transfer_id:
        transfers.void_pending(session, refund.hold_transfer_id, key=f"refund:{refund.id}:hold:release")


def decide(session: Session, store_id: str, refund_id: str, approve: bool, note: str | None = None) -> str:
    """The store approves (the refund goes to the provider: the caller enqueues it after this
    commit) or rejects it (the order is as before); commits. Returns the refund's id."""
    refund = own_refund(session, store_id, refund_id)
    now = utcnow()
    to = RefundStatus.APPROVED if approve else RefundStatus.REJECTED
    won = move_refund(
        session,
        refund.id,
        to,
        Refund.status == RefundStatus.REQUESTED,
        decided_by="store",
        decided_at=now,
        note=note,
        due_at=now if approve else None,
    )
    if not won:
        session.rollback()
        session.refresh(refund)
        raise RefundStateConflict(f"This refund has already been decided: it is {refund.status}.")
    if not approve:
        session.refresh(refund)
        _release_hold(session, refund)
        _order_back(session, refund.order_id)
    session.commit()  # nothing is read after this: an inline refund job runs next, in its own transaction
    return refund_id


def one(session: Session, refund_id: str) -> dict:
    return describe(session.get(Refund, refund_id))


def _order_back(session: Session, order_id: str) -> None:
    """A rejected request: the order is paid (or partly refunded) again."""
    order = session.get(Order, order_id)
    back = OrderStatus.PARTIALLY_REFUNDED if order.refunded_fen else OrderStatus.PAID
    move_order(session, order_id, back, Order.status == OrderStatus.REFUND_REQUESTED)


def auto_approve_due(
    session: Session, now: datetime | None = None, limit: int = 500, refund_id: str | None = None
) -> list[str]:
    """Approve every request (or the one given) nobody decided within REFUND_AUTO_APPROVE_SECONDS;
    returns their ids; commits."""
    now = now or utcnow()
    query = select(Refund.id).where(Refund.status == RefundStatus.REQUESTED, Refund.due_at <= now)
    if refund_id is not None:
        query = query.where(Refund.id == refund_id)
    ids = list(session.scalars(query.order_by(Refund.due_at).limit(limit)))
    approved = [
        i
        for i in ids
        if move_refund(session, i, RefundStatus.APPROVED, Refund.due_at <= now, decided_by="auto", decided_at=now)
    ]
    session.commit()
    return approved


# --- paying back -----------------------------------------------------------------------------------


def _claimable(now: datetime, lease_seconds: int):
    """Approved or failed and due, or processing under a lease that ran out (its worker died)."""
    return or_(
        and_(_TABLE.c.status.in_((RefundStatus.APPROVED, RefundStatus.FAILED)), _TABLE.c.due_at <= now),
        and_(_TABLE.c.status == RefundStatus.PROCESSING, _TABLE.c.claimed_at < now - timedelta(seconds=lease_seconds)),
    )


def due_refund_ids(lease_seconds: int, limit: int = 500) -> list[str]:
    now = utcnow()
    with db.session_scope() as session:
        return list(
            session.scalars(
                select(Refund.id).where(_claimable(now, lease_seconds)).order_by(Refund.due_at, Refund.id).limit(limit)
            )
        )


def _claim(refund_id: str, lease_seconds: int):
    now, token = utcnow(), secrets.token_hex(8)
    with db.session_scope() as session:
        won = move_refund(
            session,
            refund_id,
            RefundStatus.PROCESSING,
            _claimable(now, lease_seconds),
            claim_token=token,
            claimed_at=now,
            attempts=Refund.attempts + 1,
        )
        if not won:
            return None
        refund = session.get(Refund, refund_id)
        return token, refund.order_id, refund.transaction_id, refund.amount_fen, refund.reason, refund.attempts


def process_refund(provider: RefundProvider, refund_id: str, *, lease_seconds: int) -> str:
    """Claim, ask the provider (our refund id is its idempotency key), finish.
    Returns succeeded | failed | retry | skipped."""
    claim = _claim(refund_id, lease_seconds)
    if claim is None:
        return "skipped"
    token, order_id, transaction_id, amount_fen, reason, attempts = claim
    try:
        result = provider.refund(
            idempotency_key=refund_id,
            order_id=order_id,
            transaction_id=transaction_id,
            amount_fen=amount_fen,
            reason=reason,
        )
    except ProviderUnavailable as exc:
        log.warning("refund %s: provider unavailable (%s); retrying later", refund_id, exc)
        with db.session_scope() as session:
            move_refund(
                session,
                refund_id,
                RefundStatus.APPROVED,
                Refund.claim_token == token,
                claim_token=None,
                last_error=f"provider unavailable: {exc}"[:200],
                due_at=utcnow() + _backoff(attempts),
            )
        return "retry"
    if not result.succeeded:
        with db.session_scope() as session:
            move_refund(
                session,
                refund_id,
                RefundStatus.FAILED,
                Refund.claim_token == token,
                claim_token=None,
                last_error=(result.reason or "declined")[:200],
                due_at=utcnow() + _backoff(attempts),
            )
        return "failed"
    return finish_refund(refund_id, token, result)


def finish_refund(refund_id: str, token: str, result: RefundResult) -> str:
    """The provider paid: record it, post the reversal and settle the order, atomically, if our claim holds."""
    with db.session_scope() as session:
        refund = session.get(Refund, refund_id)
        order = session.scalar(
            select(Order).where(Order.id == refund.order_id).with_for_update().execution_options(populate_existing=True)
        )
        now = utcnow()
        won = move_refund(
            session,
            refund_id,
            RefundStatus.SUCCEEDED,
            Refund.claim_token == token,
            claim_token=None,
            provider_ref=result.provider_ref,
            finished_at=now,
            last_error=None,
            due_at=None,
        )
        if not won:
            return "skipped"  # another run re-claimed it after our lease ran out and finishes it
        session.refresh(refund)
        db.insert_ignore(
            session,
            ProviderTransaction.__table__,
            [
                {
                    "id": new_id("pt"),
                    "kind": TransactionKind.REFUND,
                    "transaction_id": refund.id,
                    "order_id": order.id,
                    "refund_id": refund.id,
                    "amount_fen": refund.amount_fen,
                    "outcome": RefundStatus.SUCCEEDED,
                    "payload": {"provider_ref": result.provider_ref},
                    "day": shanghai(now).date(),
                    "received_at": now,
                }
            ],
            ["transaction_id"],
        )
        if (refund.parts or {}).get("unapplied"):
            transfers.transfer(
                session,
                UNAPPLIED,
                CLEARING,
                refund.amount_fen,
                key=f"refund:{refund.id}",
                kind=LedgerKind.ORDER_REFUND,
                reference=order.id,
                metadata={"refund_id": refund.id},
            )
            return RefundStatus.SUCCEEDED
        if order.group_id and not order.split:  # never split: the whole payment waits in escrow
            transfers.transfer(
                session,
                ESCROW,
                CLEARING,
                refund.amount_fen,
                key=f"refund:{refund.id}",
                kind=LedgerKind.ORDER_REFUND,
                reference=order.id,
                metadata={"refund_id": refund.id},
            )
        else:
            refund.parts = {**(refund.parts or {}), **_post_reversal(session, order, refund)}
        order.refunded_fen += refund.amount_fen
        order.refunded_at = now
        full = order.refunded_fen == order.amount_fen
        move_order(
            session,
            order.id,
            OrderStatus.REFUNDED if full else OrderStatus.PARTIALLY_REFUNDED,
            refunded_fen=order.refunded_fen,
            refunded_at=now,
        )
    return RefundStatus.SUCCEEDED


def _post_reversal(session: Session, order: Order, refund: Refund) -> dict:
    """One ledger transfer giving `refund.amount_fen` back to clearing, each share in proportion to
    what is left of it; the refund's hold is released in the same transaction. Returns the parts."""
    shares = order.split or {}
    before = (order.refund or {}).get("shares_refunded", {})
    left = {name: shares.get(name, 0) - before.get(name, 0) for name in splits.RECEIVERS}
    portions = (
        splits.largest_remainder(refund.amount_fen, left) if sum(left.values()) else dict.fromkeys(splits.RECEIVERS, 0)
    )
    accounts = receivers(order)
    cover = [("brand", order.brand_id, "revenue"), ("brand", order.brand_id, "budget")]
    store_pending, store_available = (
        store_account(order.store_id, "pending"),
        store_account(order.store_id, "available"),
    )
    involved = [store_pending, store_available, CLEARING, *cover] + [
        accounts[name] for name in splits.RECEIVERS if portions.get(name) and accounts[name] is not None
    ]
    lock(session, involved)  # every account we know of, at once, in id order
    _release_hold(session, refund)
    settled_like_stores = [  # referrer shares with a settlement row: taken back as the store's is
        name
        for name in ("referrer", "referrer2")
        if portions.get(name) and settlement.has_credit(session, f"order:{order.id}:split:{name}")
    ]
    others = [
        (accounts[name], CLEARING, portions[name])
        for name in ("platform", "referrer", "referrer2", "brand")
        if portions.get(name) and accounts[name] is not None and name not in settled_like_stores
    ]
    planned: dict[str, int] = {}
    for debit, _, fen in others:
        planned[account_name(debit)] = planned.get(account_name(debit), 0) + fen
    legs, store_record = settlement.reversal_legs(
        session, f"order:{order.id}:split:store", portions.get("store", 0), CLEARING, cover, planned
    )
    for name in settled_like_stores:
        legs += settlement.reversal_legs(
            session, f"order:{order.id}:split:{name}", portions[name], CLEARING, cover, planned
        )[0]
    legs += others
    full = order.refunded_fen + refund.amount_fen == order.amount_fen
    for _, extra in signals.order_released.send(
        session,
        order=order,
        refunded=True,
        planned=planned,
        amount_fen=refund.amount_fen,
        refunded_before_fen=order.refunded_fen,
        full=full,
    ):
        legs += extra or []
    if legs:
        transfers.transfer_many(
            session,
            legs,
            key=f"refund:{refund.id}",
            kind=LedgerKind.ORDER_REFUND,
            reference=order.id,
            metadata={"refund_id": refund.id},
        )
    after = {name: before.get(name, 0) + portions.get(name, 0) for name in splits.RECEIVERS}
    order.refund = {**(order.refund or {}), "shares_refunded": after, "store": store_record}
    return {"shares": portions, "store": store_record}


def order_with_refunds(session: Session, order: Order) -> dict:
    """What the consumer sees of an order: its lines and amounts, and each refund with its status."""
    return {**describe_order(order), "refunds": order_refunds(session, order.id)}


def open_refund_of(session: Session, order_id: str) -> Refund | None:
    return session.scalar(select(Refund).where(Refund.order_id == order_id, Refund.status.in_(OPEN_REFUND)).limit(1))
