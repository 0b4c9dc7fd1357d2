"""Payment notifications from the provider (simulated here, shaped like the real ones).

    POST /api/v1/payments/notify
    X-Signature: hex HMAC-SHA256(PAYMENT_WEBHOOK_SECRET, raw body)
    {"order_id", "transaction_id", "amount_fen", "status": "paid"}

The signature is checked over the raw bytes, in constant time, before anything is parsed. Every
signed notice is then kept as a fact (a provider transaction, committed on its own) before anything
else happens, so that whatever follows, the money the provider took is never lost track of:

- the first notice of a transaction for a payable order pays it and posts its split;
- the same notice again (a provider retry) answers 200 and changes nothing;
- a different amount is 409, recorded, and moves nothing;
- a payment for an order that can no longer be paid (expired, cancelled, already paid by another
  transaction, refunded) is answered 200 and refunded to the payer by a system refund: an error
  would only make the provider retry forever;
- a notice kept but not applied (the process died in between) is applied by the sweep.
"""

from __future__ import annotations

import hmac
import json
from datetime import timedelta

from marshmallow import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db import insert_ignore, new_id, utcnow
from errors import Conflict, DomainError, NotFound, Unauthorized, ValidationFailed
from locale_format import shanghai
from storefront import orders
from storefront.models import Order, OrderStatus
from storefront.payments import refunds
from storefront.payments.models import NoticeOutcome, ProviderTransaction, Refund, TransactionKind
from storefront.payments.provider import sign
from storefront.schemas import NoticeIn


class AmountMismatch(Conflict):
    code, message = "amount_mismatch", "The paid amount does not match the order."


def handle_notice(
    session: Session, raw: bytes, signature: str | None, *, secret: str, settle_delay_seconds: int
) -> dict:
    """Check, parse, keep and apply one notice; commits. `secret` is PAYMENT_WEBHOOK_SECRET; the
    order's store share settles `settle_delay_seconds` later."""
    if not signature or not hmac.compare_digest(sign(raw, secret).encode(), signature.strip().lower().encode()):
        raise Unauthorized("Bad or missing X-Signature.")
    try:
        notice = NoticeIn().load(json.loads(raw))
    except (ValueError, TypeError):
        raise ValidationFailed({"body": ["Not a JSON object."]}) from None
    except ValidationError as exc:
        raise ValidationFailed(exc.messages if isinstance(exc.messages, dict) else {"body": exc.messages}) from None
    fact = _keep(session, notice)
    if fact.order_id != notice["order_id"] or fact.amount_fen != notice["amount_fen"]:
        raise orders.OrderStateConflict(
            "This transaction id was already notified for another order or amount.",
            fields={"transaction_id": ["Already used."]},
        )
    if fact.outcome != NoticeOutcome.RECEIVED:
        return _answer(session, fact, replay=True)
    return apply_notice(session, fact.id, settle_delay_seconds=settle_delay_seconds)


def _keep(session: Session, notice: dict) -> ProviderTransaction:
    """The notice as a provider transaction, committed before anything else (the first one of a
    transaction id is kept; a retry finds it)."""
    now = utcnow()
    insert_ignore(
        session,
        ProviderTransaction.__table__,
        [
            {
                "id": new_id("pt"),
                "kind": TransactionKind.PAYMENT,
                "transaction_id": notice["transaction_id"],
                "order_id": notice["order_id"],
                "amount_fen": notice["amount_fen"],
                "outcome": NoticeOutcome.RECEIVED,
                "payload": notice,
                "day": shanghai(now).date(),
                "received_at": now,
            }
        ],
        ["transaction_id"],
    )
    session.commit()
    return session.scalar(
        select(ProviderTransaction).where(ProviderTransaction.transaction_id == notice["transaction_id"])
    )


def _answer(session: Session, fact: ProviderTransaction, replay: bool) -> dict:
    if fact.outcome == NoticeOutcome.UNKNOWN_ORDER:
        raise NotFound("No such order.", fields={"order_id": ["Unknown order."]})
    order = session.get(Order, fact.order_id)
    if fact.outcome == NoticeOutcome.AMOUNT_MISMATCH:
        raise AmountMismatch(fields={"amount_fen": [f"The order is {order.amount_fen} fen."]})
    refund = session.scalar(select(Refund.id).where(Refund.transaction_id == fact.transaction_id, Refund.system))
    return {"order_id": order.id, "status": order.status, "replay": replay, "refund_id": refund}


def apply_notice(session: Session, fact_id: str, *, settle_delay_seconds: int) -> dict:
    """Apply a kept notice once (the fact's outcome is claimed by a conditional UPDATE); commits.
    A payment that cannot be honoured gets an approved system refund (`refund_id` in the answer):
    the caller enqueues its job after this commit."""
    fact = session.get(ProviderTransaction, fact_id)
    order = session.scalar(
        select(Order).where(Order.id == fact.order_id).with_for_update().execution_options(populate_existing=True)
    )
    if not _settle_fact(session, fact_id, NoticeOutcome.RECEIVED):  # another request applied it meanwhile
        session.rollback()
        session.refresh(fact)
        return _answer(session, fact, replay=True)
    refund_id = None
    if order is None:
        outcome = NoticeOutcome.UNKNOWN_ORDER
    elif fact.amount_fen != order.amount_fen:
        outcome = NoticeOutcome.AMOUNT_MISMATCH
    elif order.status == OrderStatus.PENDING_PAYMENT and orders.mark_paid(
        session, order, fact.transaction_id, settle_delay_seconds=settle_delay_seconds
    ):
        outcome = NoticeOutcome.PAID
    else:
        why = "paid twice" if order.transaction_id else f"payment arrived for a {order.status} order"
        outcome = NoticeOutcome.DUPLICATE if order.transaction_id else NoticeOutcome.REFUNDING
        refund_id = refunds.refund_unapplied_payment(session, order, fact.transaction_id, fact.amount_fen, why).id
    _settle_fact(session, fact_id, outcome)
    if outcome in (NoticeOutcome.UNKNOWN_ORDER, NoticeOutcome.AMOUNT_MISMATCH):
        session.commit()  # recorded; nothing moved
        fact.outcome = outcome
        return _answer(session, fact, replay=False)
    answer = {"order_id": order.id, "status": order.status, "replay": False, "refund_id": refund_id}
    session.commit()  # nothing is read after this: an inline refund job may run next, in its own transaction
    return answer


def _settle_fact(session: Session, fact_id: str, outcome: NoticeOutcome) -> bool:
    """RECEIVED: claim the fact for applying (no outcome change yet); otherwise record the outcome."""
    if outcome == NoticeOutcome.RECEIVED:
        return (
            session.execute(
                update(ProviderTransaction)
                .where(ProviderTransaction.id == fact_id, ProviderTransaction.outcome == NoticeOutcome.RECEIVED)
                .values(outcome=NoticeOutcome.RECEIVED)
                .execution_options(synchronize_session=False)
            ).rowcount
            == 1
        )
    session.execute(
        update(ProviderTransaction)
        .where(ProviderTransaction.id == fact_id)
        .values(outcome=outcome)
        .execution_options(synchronize_session=False)
    )
    return True


def apply_received(session: Session, older_than_seconds: int = 60, *, settle_delay_seconds: int) -> int:
    """Sweep: notices kept but never applied (the process died in between) are applied now."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    ids = list(
        session.scalars(
            select(ProviderTransaction.id)
            .where(ProviderTransaction.outcome == NoticeOutcome.RECEIVED, ProviderTransaction.received_at <= cutoff)
            .limit(500)
        )
    )
    for fact_id in ids:
        try:
            apply_notice(session, fact_id, settle_delay_seconds=settle_delay_seconds)
        except DomainError:  # recorded as its outcome (unknown order, wrong amount)
            pass
    return len(ids)
