"""Payment notifications from the provider (simulated here, shaped like the real ones).

    POST /api/v1/payments/notify
    X-Signature: hex HMAC-SHA256(PAYMENT_WEBHOOK_SECRET, raw body)
    {"order_id", "transaction_id", "amount_fen", "status": "paid"}

The signature is checked over the raw bytes, in constant time, before anything is parsed. The
first valid notice for an order pays it and posts its split; the same notice again (a provider
retry) answers 200 and changes nothing; a different amount is 409 and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from errors import Conflict, NotFound, Unauthorized, ValidationFailed
from storefront import orders
from storefront.models import Order, OrderStatus
from storefront.schemas import NoticeIn


class AmountMismatch(Conflict):
    code, message = "amount_mismatch", "The paid amount does not match the order."


def sign(body: bytes, secret: str) -> str:
    """The notice's X-Signature: hex HMAC-SHA256 of the raw body under the webhook secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def handle_notice(
    session: Session, raw: bytes, signature: str | None, *, secret: str, settle_delay_seconds: int
) -> dict:
    """Check, parse and apply one notice; commits. `secret` is PAYMENT_WEBHOOK_SECRET; the order's
    store share settles `settle_delay_seconds` later."""
    if not signature or not hmac.compare_digest(sign(raw, secret).encode(), signature.strip().lower().encode()):
        raise Unauthorized("Bad or missing X-Signature.")
    try:
        notice = NoticeIn().load(json.loads(raw))
    except (ValueError, TypeError):
        raise ValidationFailed({"body": ["Not a JSON object."]}) from None
    except ValidationError as exc:
        raise ValidationFailed(exc.messages if isinstance(exc.messages, dict) else {"body": exc.messages}) from None
    order = session.get(Order, notice["order_id"])
    if order is None:
        raise NotFound("No such order.", fields={"order_id": ["Unknown order."]})
    if order.transaction_id == notice["transaction_id"]:
        return {"order_id": order.id, "status": order.status, "replay": True}
    if notice["amount_fen"] != order.amount_fen:
        raise AmountMismatch(fields={"amount_fen": [f"The order is {order.amount_fen} fen."]})
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise orders.OrderStateConflict(f"The order is {order.status}; it cannot be paid now.")
    try:
        paid = orders.mark_paid(session, order, notice["transaction_id"], settle_delay_seconds=settle_delay_seconds)
    except IntegrityError:  # this transaction id already paid another order
        session.rollback()
        raise orders.OrderStateConflict(
            "This transaction id has already paid another order.", fields={"transaction_id": ["Already used."]}
        ) from None
    if not paid:
        session.rollback()
        order = session.get(Order, notice["order_id"])
        session.refresh(order)
        if order.transaction_id == notice["transaction_id"]:
            return {"order_id": order.id, "status": order.status, "replay": True}
        raise orders.OrderStateConflict(f"The order is {order.status}; it cannot be paid now.")
    session.commit()
    return {"order_id": order.id, "status": OrderStatus.PAID, "replay": False}
