"""Coupons on orders: storefront's order signals, answered here (storefront never imports loyalty).

A coupon used on an order is *held* while the order awaits payment, *redeemed* when it is paid
(a brand coupon then reimburses the store from the campaign reserve, in the payment's own
ledger transfer), back to *issued* if the order expires, and back to *issued* with the
reimbursement reversed if the order is refunded.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from db import utcnow
from errors import Conflict, ValidationFailed
from loyalty import campaigns
from loyalty.campaigns import reserve_account
from loyalty.coupons import reimbursement_key, reimbursement_legs, transition
from loyalty.models import Coupon, CouponStatus, RewardKind
from storefront import signals
from storefront.ledger import settlement

ORDER_KINDS = (RewardKind.BRAND_COUPON, RewardKind.STORE_COUPON)


def hold_for_order(session: Session, *, consumer_id, coupon_id, brand_id, store_id, subtotal_fen, order_id) -> int:
    coupon = session.get(Coupon, coupon_id)
    if coupon is None or coupon.consumer_id != consumer_id:
        raise ValidationFailed({"coupon_id": ["Not a coupon in your wallet."]})
    problems = []
    if coupon.kind not in ORDER_KINDS:
        problems.append("Only brand and store coupons apply to orders.")
    elif coupon.brand_id != brand_id:
        problems.append("This coupon is for another brand's products.")
    elif coupon.kind == RewardKind.STORE_COUPON and coupon.store_id != store_id:
        problems.append("This store coupon is only valid at its own store.")
    elif subtotal_fen < coupon.min_spend_fen:
        problems.append(f"Needs a minimum spend of {coupon.min_spend_fen} fen.")
    elif coupon.value_fen >= subtotal_fen:
        problems.append("The coupon is worth more than the order.")
    if problems:
        raise ValidationFailed({"coupon_id": problems})
    won = transition(
        session, coupon.id, CouponStatus.ISSUED, CouponStatus.HELD, Coupon.expires_at > utcnow(), order_id=order_id
    )
    if not won:
        raise Conflict("This coupon is used, expired or held by another order.", fields={"coupon_id": [coupon.status]})
    return coupon.value_fen


def use_on_paid_order(session: Session, *, order, settle_delay_seconds: int) -> list:
    if not order.coupon_id:
        return []
    won = transition(
        session,
        order.coupon_id,
        CouponStatus.HELD,
        CouponStatus.REDEEMED,
        Coupon.order_id == order.id,
        redeemed_at=utcnow(),
        redeemed_store_id=order.store_id,
    )
    if not won:
        return []
    return reimbursement_legs(
        session, session.get(Coupon, order.coupon_id), order.store_id, use=order.id, delay_seconds=settle_delay_seconds
    )


def release_for_order(
    session: Session,
    *,
    order,
    refunded: bool,
    planned: dict[str, int],
    amount_fen: int = 0,
    refunded_before_fen: int = 0,
    full: bool = True,
) -> list:
    """The order expired (its held coupon goes back to the wallet) or a refund of `amount_fen` was
    paid: the store's reimbursement goes back to the campaign in the same proportion (the
    cumulative share, floored, so the refunds of one order give back exactly the whole of it), and
    once the order is refunded in full the coupon returns to the wallet."""
    if not order.coupon_id:
        return []
    coupon = session.get(Coupon, order.coupon_id)
    if not refunded:
        transition(
            session, coupon.id, CouponStatus.HELD, CouponStatus.ISSUED, Coupon.order_id == order.id, order_id=None
        )
        return []
    if coupon.status != CouponStatus.REDEEMED or coupon.order_id != order.id:
        return []
    reimbursed = coupon.reimbursed_fen or 0
    after = refunded_before_fen + (amount_fen or order.amount_fen - refunded_before_fen)
    portion = reimbursed * after // order.amount_fen - reimbursed * refunded_before_fen // order.amount_fen
    if full:
        won = transition(
            session,
            coupon.id,
            CouponStatus.REDEEMED,
            CouponStatus.ISSUED,
            Coupon.order_id == order.id,
            order_id=None,
            redeemed_at=None,
            redeemed_store_id=None,
            reimbursed_fen=0,
        )
        if not won:
            return []
    if not portion:
        return []
    campaigns.unspend(session, coupon.campaign_id, portion)
    legs, _ = settlement.reversal_legs(
        session,
        reimbursement_key(coupon.id, order.id),
        portion,
        reserve_account(coupon.campaign_id),
        [("brand", coupon.brand_id, "revenue"), ("brand", coupon.brand_id, "budget")],
        planned,
    )
    return legs


def connect() -> None:
    signals.coupon_for_order.connect(hold_for_order)
    signals.order_paid.connect(use_on_paid_order)
    signals.order_released.connect(release_for_order)
