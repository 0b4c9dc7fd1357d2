"""Sweeps for BC-linked commerce (registered in storefront.init_app)."""
from db import session_scope
from storefront import orders, rebates, settlement


def settle() -> int:
    with session_scope() as session:
        return settlement.settle_due(session)


def expire_orders() -> int:
    with session_scope() as session:
        return orders.expire_due(session)


def daily_rebates() -> dict:
    with session_scope() as session:
        return rebates.run_daily(session)
