"""Sweeps for BC-linked commerce (registered in storefront.init_app): module-level functions, safe to
run twice. They run in the app's context and pass its settings on to the services."""

from flask import current_app

from db import session_scope
from storefront import orders, rebates


def expire_orders() -> int:
    """Orders still unpaid after ORDER_PAYMENT_SECONDS (their expires_at) expire."""
    with session_scope() as session:
        return orders.expire_due(session)


def daily_rebates() -> dict:
    """Credit every brand's dynamic rebates for each day not yet run, up to yesterday."""
    with session_scope() as session:
        return rebates.run_daily(session, delay_seconds=current_app.config["SETTLEMENT_DELAY_SECONDS"])
