"""Referral jobs: module-level functions taking ids, safe to run twice (the reward's unique row
decides), enqueued after the triggering commit; the sweep runs them for any trigger they missed."""

from __future__ import annotations

from flask import current_app

from db import session_scope
from loyalty.referral import rewards


def _delay() -> int:
    return current_app.config["SETTLEMENT_DELAY_SECONDS"]


def reward_first_scan(referee_id: str, brand_id: str) -> int:
    """A referee's first claimed scan of a brand's items: its referral rewards, once."""
    with session_scope() as session:
        return rewards.reward_first_scan(session, referee_id, brand_id, settle_delay_seconds=_delay())


def reward_order(order_id: str) -> int:
    """A referee's paid order: if it is its first of the brand, its referral rewards, once."""
    with session_scope() as session:
        return rewards.reward_order(session, order_id, settle_delay_seconds=_delay())


def sweep() -> dict:
    """Referral rewards: first scans and first orders of referees whose reward job never ran."""
    with session_scope() as session:
        scans, orders = rewards.missed_first_scans(session), rewards.missed_orders(session)
    return {
        "first_scans": sum(reward_first_scan(referee, brand) for referee, brand in scans),
        "first_orders": sum(reward_order(order_id) for order_id in orders),
    }
