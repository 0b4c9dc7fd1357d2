"""Orders through a store, split rules and unpaid-order expiry (refunds: storefront.payments.refunds).

Prices come from the catalogue, never from the client. An order is of one brand's products, at
one of that brand's partner stores. The paid amount is split by the brand's rules (per product
when a product has its own) into store, platform, referrer, second-level referrer and brand
shares that sum exactly to it, posted as one multi-leg ledger transfer keyed by the order.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

import jobs
from codes.models import Product
from db import new_id, utcnow
from errors import Conflict, Forbidden, NotFound, ValidationFailed
from identity.models import Store
from identity.services import is_partner
from pagination import keyset_page
from storefront import signals, splits
from storefront.ledger import settlement
from storefront.ledger.accounts import CLEARING, AccountRef, store_account
from storefront.ledger.models import LedgerKind
from storefront.ledger.transfers import transfer, transfer_many
from storefront.models import Order, OrderStatus, SplitRule

FEES: AccountRef = ("platform", None, "fees")
ESCROW: AccountRef = ("platform", None, "group_escrow")  # paid group-buy orders whose group has not succeeded


class OrderStateConflict(Conflict):
    code = "order_state"


# The states each status may follow (the only way an order's status changes is `move_order`).
_FROM = {
    OrderStatus.PAID: (OrderStatus.PENDING_PAYMENT, OrderStatus.REFUND_REQUESTED),
    OrderStatus.REFUND_REQUESTED: (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED),
    OrderStatus.PARTIALLY_REFUNDED: (OrderStatus.REFUND_REQUESTED,),
    OrderStatus.REFUNDED: (OrderStatus.REFUND_REQUESTED,),
    OrderStatus.EXPIRED: (OrderStatus.PENDING_PAYMENT,),
    OrderStatus.CANCELLED: (OrderStatus.PENDING_PAYMENT,),
}


def move_order(session: Session, order_id: str, to: OrderStatus, *where, **values) -> bool:
    """Conditional UPDATE to `to` from the states it may follow (and `where`); True if this transaction won."""
    return (
        session.execute(
            update(Order)
            .where(Order.id == order_id, Order.status.in_(_FROM[to]), *where)
            .values(status=to, **values)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


# --- split rules -------------------------------------------------------------------------------


def set_split_rule(
    session: Session,
    brand_id: str,
    store_percent,
    platform_percent,
    referrer_percent,
    referrer2_percent,
    product_id: str | None = None,
) -> SplitRule:
    bps = {}
    for name, value in (
        ("store_percent", store_percent),
        ("platform_percent", platform_percent),
        ("referrer_percent", referrer_percent),
        ("referrer2_percent", referrer2_percent),
    ):
        try:
            bps[name] = splits.percent_to_bp(value)
        except ValueError:
            raise ValidationFailed({name: ["At most two decimals."]}) from None
    if sum(bps.values()) > 10_000:
        raise ValidationFailed({"store_percent": ["The shares add up to more than 100%."]})
    if product_id is not None:
        product = session.get(Product, product_id)
        if product is None or product.brand_id != brand_id:
            raise ValidationFailed({"product_id": ["Not a product of this brand."]})
    rule = SplitRule(
        brand_id=brand_id,
        product_id=product_id,
        store_bp=bps["store_percent"],
        platform_bp=bps["platform_percent"],
        referrer_bp=bps["referrer_percent"],
        referrer2_bp=bps["referrer2_percent"],
    )
    session.add(rule)
    session.commit()
    return rule


def describe_rule(rule: SplitRule) -> dict:
    brand_bp = 10_000 - rule.store_bp - rule.platform_bp - rule.referrer_bp - rule.referrer2_bp
    return {
        "id": rule.id,
        "product_id": rule.product_id,
        "store_percent": rule.store_bp / 100,
        "platform_percent": rule.platform_bp / 100,
        "referrer_percent": rule.referrer_bp / 100,
        "referrer2_percent": rule.referrer2_bp / 100,
        "brand_percent": brand_bp / 100,
        "created_at": rule.created_at,
    }


def list_split_rules(session: Session, brand_id: str, limit: int, cursor: str | None):
    """The brand's split rules, newest first (the newest per product, or default, is the one in force)."""
    query = select(SplitRule).where(SplitRule.brand_id == brand_id)
    rows, next_cursor = keyset_page(session, query, [SplitRule.id], limit, cursor)
    return [describe_rule(r) for r in rows], next_cursor


def rule_for(session: Session, brand_id: str, product_id: str) -> splits.Rule:
    this_or_default = (SplitRule.product_id == product_id) | SplitRule.product_id.is_(None)
    rows = session.scalars(
        select(SplitRule)
        .where(SplitRule.brand_id == brand_id, this_or_default)
        .order_by(SplitRule.product_id.is_(None), SplitRule.id.desc())
        .limit(1)
    )
    row = next(iter(rows), None)
    if row is None:
        return splits.DEFAULT_RULE
    return splits.Rule(row.store_bp, row.platform_bp, row.referrer_bp, row.referrer2_bp)


# --- orders ------------------------------------------------------------------------------------


def create_order(
    session: Session,
    consumer_id: str,
    store_id: str,
    items: list[dict],
    coupon_id: str | None = None,
    *,
    payment_seconds: int,
    group_id: str | None = None,
    unit_price_fen: int | None = None,
    order_id: str | None = None,
) -> Order:
    """A pending order, held `payment_seconds` for its payment; commits (with whatever the caller
    changed in this transaction: a group-buy seat). A group-buy order (`group_id`) is of one product
    at the group's `unit_price_fen`, takes no coupon, and its payment waits in escrow (mark_paid)."""
    store = session.get(Store, store_id)
    if store is None:
        raise NotFound("No such store.", fields={"store_id": ["Unknown store."]})
    quantities: dict[str, int] = {}
    for line in items:
        quantities[line["product_id"]] = quantities.get(line["product_id"], 0) + line["quantity"]
    products = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(list(quantities))))}
    unknown = [pid for pid in quantities if pid not in products]
    if unknown:
        raise ValidationFailed({"items": [f"Unknown products: {', '.join(unknown[:5])}."]})
    brands = {p.brand_id for p in products.values()}
    if len(brands) != 1:
        raise ValidationFailed({"items": ["An order holds one brand's products; place one order per brand."]})
    brand_id = brands.pop()
    if not is_partner(session, brand_id, store.id):
        raise ValidationFailed({"store_id": ["This store does not sell this brand's products."]})
    lines = [
        {
            "product_id": pid,
            "name": products[pid].name,
            "quantity": qty,
            "unit_price_fen": products[pid].price_fen if unit_price_fen is None else unit_price_fen,
            "line_fen": (products[pid].price_fen if unit_price_fen is None else unit_price_fen) * qty,
        }
        for pid, qty in quantities.items()
    ]
    subtotal = sum(line["line_fen"] for line in lines)
    if subtotal <= 0:
        raise ValidationFailed({"items": ["The order's total must be above zero."]})
    now = utcnow()
    order = Order(
        id=order_id or new_id("or"),
        consumer_id=consumer_id,
        store_id=store.id,
        brand_id=brand_id,
        status=OrderStatus.PENDING_PAYMENT,
        items=lines,
        subtotal_fen=subtotal,
        discount_fen=0,
        amount_fen=subtotal,
        coupon_id=None,
        split={},
        refund={},
        created_at=now,
        expires_at=now + timedelta(seconds=payment_seconds),
        group_id=group_id,
    )
    for _, referrers in signals.referrers_for_order.send(session, consumer_id=consumer_id, brand_id=brand_id):
        if referrers:
            order.referrer_id, order.referrer2_id = referrers
            break
    session.add(order)
    session.flush()
    if coupon_id and group_id:
        raise ValidationFailed({"coupon_id": ["Coupons do not apply to group-buy orders."]})
    if coupon_id:
        answers = [
            value
            for _, value in signals.coupon_for_order.send(
                session,
                consumer_id=consumer_id,
                coupon_id=coupon_id,
                brand_id=brand_id,
                store_id=store.id,
                subtotal_fen=subtotal,
                order_id=order.id,
            )
            if value is not None
        ]
        if not answers:
            raise ValidationFailed({"coupon_id": ["Coupons cannot be used on orders here."]})
        order.coupon_id, order.discount_fen = coupon_id, answers[0]
        order.amount_fen = subtotal - answers[0]
    session.commit()
    jobs.enqueue_at(order.expires_at, expire_order_job, order.id, job_id=f"order-expiry:{order.id}")
    return order


def own_order(session: Session, consumer_id: str, order_id: str) -> Order:
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound("No such order.")
    if order.consumer_id != consumer_id:
        raise Forbidden("This order belongs to someone else.")
    return order


def consumer_orders(session: Session, consumer_id: str, status: str | None, limit: int, cursor: str | None):
    """The consumer's own orders (optionally of one status), newest first, one keyset page."""
    query = select(Order).where(Order.consumer_id == consumer_id)
    if status:
        query = query.where(Order.status == status)
    rows, next_cursor = keyset_page(session, query, [Order.created_at, Order.id], limit, cursor)
    return [describe(o) for o in rows], next_cursor


def describe(order: Order) -> dict:
    return {
        "id": order.id,
        "status": order.status,
        "store_id": order.store_id,
        "brand_id": order.brand_id,
        "items": order.items,
        "subtotal_fen": order.subtotal_fen,
        "discount_fen": order.discount_fen,
        "amount_fen": order.amount_fen,
        "coupon_id": order.coupon_id,
        "created_at": order.created_at,
        "expires_at": order.expires_at,
        "paid_at": order.paid_at,
        "refunded_at": order.refunded_at,
        "refunded_fen": order.refunded_fen,
        "group_id": order.group_id,
    }


# --- payment and split -------------------------------------------------------------------------


def receivers(order: Order) -> dict[str, AccountRef | None]:
    return {
        "store": store_account(order.store_id, "pending"),
        "platform": FEES,
        "referrer": ("consumer", order.referrer_id, "pending") if order.referrer_id else None,
        "referrer2": ("consumer", order.referrer2_id, "pending") if order.referrer2_id else None,
        "brand": ("brand", order.brand_id, "revenue"),
    }


def mark_paid(session: Session, order: Order, transaction_id: str, *, settle_delay_seconds: int) -> bool:
    """Pay the order and post its split; False if another notice got there first (nothing moved).
    The store's share (and any credit the order_paid receivers add) settles `settle_delay_seconds` later.

    Lock order, as everywhere: the order row, then coupon and campaign rows (the order_paid
    receivers), then every ledger account the payment touches, in one multi-leg transfer.
    """
    paying = Order.status == OrderStatus.PENDING_PAYMENT
    if not move_order(session, order.id, OrderStatus.PAID, paying, transaction_id=transaction_id, paid_at=utcnow()):
        return False
    session.refresh(order)
    if order.group_id:  # the group may still fail: the money waits in escrow, split when it succeeds
        transfer(
            session,
            CLEARING,
            ESCROW,
            order.amount_fen,
            key=f"order:{order.id}:escrow",
            kind=LedgerKind.GROUP_ESCROW,
            reference=order.id,
            metadata={"transaction_id": transaction_id, "group_id": order.group_id},
        )
        signals.group_order_paid.send(session, order=order)
        return True
    _post_split(session, order, CLEARING, settle_delay_seconds, {"transaction_id": transaction_id})
    return True


def split_escrowed(session: Session, order_id: str, *, settle_delay_seconds: int) -> bool:
    """A paid group-buy order whose group succeeded: its escrowed payment is split now (once; the
    order row is locked and an order already split is left alone). In the caller's transaction."""
    order = session.scalar(
        select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
    )
    if order is None or order.split or order.status != OrderStatus.PAID or not order.group_id:
        return False
    _post_split(session, order, ESCROW, settle_delay_seconds, {"group_id": order.group_id})
    return True


def _post_split(session: Session, order: Order, source: AccountRef, settle_delay_seconds: int, metadata: dict):
    """The order's paid amount, from `source`, shared by its split rule in one transfer; the store's
    share settles later."""
    lines = [(line["line_fen"], rule_for(session, order.brand_id, line["product_id"])) for line in order.items]
    shares = splits.split_order(order.amount_fen, lines, bool(order.referrer_id), bool(order.referrer2_id))
    accounts = receivers(order)
    legs = [(source, accounts[name], fen) for name, fen in shares.items() if fen]
    for _, extra in signals.order_paid.send(session, order=order, settle_delay_seconds=settle_delay_seconds):
        legs += extra or []
    transfer_many(
        session,
        legs,
        key=f"order:{order.id}:paid",
        kind=LedgerKind.ORDER_SPLIT,
        reference=order.id,
        metadata=metadata,
    )
    if shares["store"]:
        settlement.schedule(
            session,
            order.store_id,
            shares["store"],
            key=f"order:{order.id}:split:store",
            kind=LedgerKind.ORDER_SPLIT,
            reference=order.id,
            delay_seconds=settle_delay_seconds,
        )
    for name in ("referrer", "referrer2"):  # the referrers' shares settle like the store's
        if shares[name]:
            settlement.schedule(
                session,
                None,
                shares[name],
                key=f"order:{order.id}:split:{name}",
                kind=LedgerKind.ORDER_SPLIT,
                reference=order.id,
                delay_seconds=settle_delay_seconds,
                consumer_id=getattr(order, f"{name}_id"),
            )
    order.split = shares


# --- expiry ------------------------------------------------------------------------------------


def expire_order(session: Session, order_id: str) -> bool:
    won = move_order(session, order_id, OrderStatus.EXPIRED, Order.expires_at <= utcnow())
    if won:
        signals.order_released.send(session, order=session.get(Order, order_id), refunded=False, planned={})
    session.commit()
    return won


def cancel_order(session: Session, order_id: str, notify: bool = True) -> bool:
    """An unpaid order that can no longer be paid (its group failed): cancelled, and unless `notify`
    is False the order_released receivers hear of it. In the caller's transaction; True if it was
    still pending."""
    won = move_order(session, order_id, OrderStatus.CANCELLED)
    if won and notify:
        signals.order_released.send(session, order=session.get(Order, order_id), refunded=False, planned={})
    return won


def expire_order_job(order_id: str) -> bool:
    from db import session_scope

    with session_scope() as session:
        return expire_order(session, order_id)


def expire_due(session: Session) -> int:
    ids = list(
        session.scalars(
            select(Order.id)
            .where(Order.status == OrderStatus.PENDING_PAYMENT, Order.expires_at <= utcnow())
            .limit(1000)
        )
    )
    return sum(1 for order_id in ids if expire_order(session, order_id))
