"""Insight's sweeps (registered in insight.init_app): module-level functions, safe to run twice, that
pass the app's settings on to the services."""

from flask import current_app

from db import session_scope
from insight import diversion, rollups


def roll_up() -> dict:
    """Add new scans to the rollups and recompute the days coupons, orders and receipts touched."""
    settle = current_app.config["INSIGHT_SETTLE_SECONDS"]
    with session_scope() as session:
        scans = rollups.roll_scans(session, settle)
    with session_scope() as session:
        money = rollups.roll_money(session, settle)
    return {"scans": scans, "money": money}


def detect_diversion() -> dict:
    """Raise scan-cluster diversion alerts for the scans committed since the last run."""
    with session_scope() as session:
        return diversion.detect(session, current_app.config["INSIGHT_SETTLE_SECONDS"])
