"""Store incentives from the brand's budget: receipt rebates, T+0 scan commission, daily dynamic rebates.

All of them are credits to the store's pending balance (settled later like any earning) with an
idempotency key that names what earned them, so replays and concurrent sweeps credit once:
    receipt:{case_serial}   scan-commission:{serial}   daily-rebate:{brand}:{store}:{day}
When the brand's budget cannot pay, the store gets nothing for that event and the brand sees
the shortfall in the response or the run record; money is never created to cover it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from codes.models import Batch, Code
from db import insert_ignore, utcnow
from errors import InsufficientFunds, ValidationFailed
from storefront.ledger.accounts import brand_budget
from storefront.ledger.models import LedgerKind
from storefront.ledger.settlement import credit_store
from storefront.models import DailyRebateRun, RebatePolicy


def current_policy(session: Session, brand_id: str) -> RebatePolicy | None:
    return session.scalar(
        select(RebatePolicy).where(RebatePolicy.brand_id == brand_id).order_by(RebatePolicy.id.desc()).limit(1)
    )


def set_policy(
    session: Session, brand_id: str, per_scan_fen: int, per_receipt_item_fen: int, daily_tiers: list[dict] | None = None
) -> RebatePolicy:
    tiers = sorted(daily_tiers or [], key=lambda t: t["min_items"])
    if len({t["min_items"] for t in tiers}) != len(tiers):
        raise ValidationFailed({"daily_tiers": ["Each min_items may appear once."]})
    policy = RebatePolicy(
        brand_id=brand_id, per_scan_fen=per_scan_fen, per_receipt_item_fen=per_receipt_item_fen, daily_tiers=tiers
    )
    session.add(policy)
    session.commit()
    return policy


def describe_policy(policy: RebatePolicy | None) -> dict:
    if policy is None:
        return {"per_scan_fen": 0, "per_receipt_item_fen": 0, "daily_tiers": [], "created_at": None}
    return {
        "per_scan_fen": policy.per_scan_fen,
        "per_receipt_item_fen": policy.per_receipt_item_fen,
        "daily_tiers": policy.daily_tiers,
        "created_at": policy.created_at,
    }


def try_credit(
    session: Session,
    store_id: str,
    brand_id: str,
    amount_fen: int,
    *,
    key: str,
    kind: str,
    reference: str | None,
    delay_seconds: int,
) -> int:
    """Credit the store from the brand's budget, settling `delay_seconds` later; 0 (and nothing moved)
    if the budget cannot pay."""
    if amount_fen <= 0:
        return 0
    try:
        with session.begin_nested():
            credit_store(
                session,
                store_id,
                brand_budget(brand_id),
                amount_fen,
                key=key,
                kind=kind,
                reference=reference,
                delay_seconds=delay_seconds,
            )
    except InsufficientFunds:
        return 0
    return amount_fen


def on_first_scan(session: Session, *, found, outcome, consumer_id: str) -> None:
    """Receiver of codes.signals.bound_code_claimed (connected by storefront.init_app), inside the scan's
    transaction. An entry point like a view: it reads the app's settlement delay and passes it on."""
    scan_commission(
        session,
        brand_id=found.batch.brand_id,
        serial=found.serial,
        store_id=outcome.bound_store_id,
        delay_seconds=current_app.config["SETTLEMENT_DELAY_SECONDS"],
    )


def scan_commission(session: Session, *, brand_id: str, serial: int, store_id: str | None, delay_seconds: int) -> None:
    """T+0: the store an item is bound to earns the brand's per-scan commission on its first consumer scan."""
    if not store_id:
        return
    policy = current_policy(session, brand_id)
    if policy is None or policy.per_scan_fen <= 0:
        return
    try_credit(
        session,
        store_id,
        brand_id,
        policy.per_scan_fen,
        key=f"scan-commission:{serial}",
        kind=LedgerKind.SCAN_COMMISSION,
        reference=str(serial),
        delay_seconds=delay_seconds,
    )


def rate_for(tiers: list[dict], items: int) -> int:
    rate = 0
    for tier in sorted(tiers, key=lambda t: t["min_items"]):
        if items >= tier["min_items"]:
            rate = tier["per_item_fen"]
    return rate


def sell_through(session: Session, brand_id: str, day: date) -> dict[str, int]:
    """{store_id: items bound to it whose first consumer scan (the claim) fell on `day` (UTC)}."""
    start = datetime.combine(day, time.min)
    rows = session.execute(
        select(Code.bound_store_id, func.count())
        .join(Batch, Batch.id == Code.batch_id)
        .where(
            Batch.brand_id == brand_id,
            Code.bound_store_id.is_not(None),
            Code.claimed_at >= start,
            Code.claimed_at < start + timedelta(days=1),
        )
        .group_by(Code.bound_store_id)
    ).all()
    return {store_id: count for store_id, count in rows}


def run_daily(session: Session, *, delay_seconds: int, today: date | None = None) -> dict:
    """Credit every brand's dynamic rebates for each day not yet run, up to yesterday (catching up)."""
    today = today or utcnow().date()
    done = {"days": 0, "credited_fen": 0}
    brand_ids = list(session.scalars(select(RebatePolicy.brand_id).distinct()))
    for brand_id in brand_ids:
        policy = current_policy(session, brand_id)
        if not policy.daily_tiers:
            continue
        first = session.scalar(
            select(func.min(RebatePolicy.created_at)).where(RebatePolicy.brand_id == brand_id)
        ).date()
        last_run = session.scalar(select(func.max(DailyRebateRun.day)).where(DailyRebateRun.brand_id == brand_id))
        day = max(first, last_run + timedelta(days=1)) if last_run else first
        while day < today:
            credited, stores = 0, 0
            for store_id, items in sorted(sell_through(session, brand_id, day).items()):
                amount = rate_for(policy.daily_tiers, items) * items
                got = try_credit(
                    session,
                    store_id,
                    brand_id,
                    amount,
                    key=f"daily-rebate:{brand_id}:{store_id}:{day}",
                    kind=LedgerKind.DAILY_REBATE,
                    reference=f"{day} x{items}",
                    delay_seconds=delay_seconds,
                )
                session.commit()  # one store per transaction: never hold the brand budget across stores
                credited += got
                stores += 1 if got else 0
            insert_ignore(
                session,
                DailyRebateRun.__table__,
                [{"brand_id": brand_id, "day": day, "stores": stores, "credited_fen": credited, "at": utcnow()}],
                ["brand_id", "day"],
            )
            session.commit()
            done["days"] += 1
            done["credited_fen"] += credited
            day += timedelta(days=1)
    return done
