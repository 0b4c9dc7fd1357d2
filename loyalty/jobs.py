"""Sweeps run by `flask jobs run-due`, the RQ worker's scheduler, or the inline timer."""

from db import session_scope
from loyalty import campaigns, coupons


def expire_coupons() -> int:
    """Coupons past their expiry become expired, once; their budget share is released."""
    with session_scope() as session:
        return coupons.expire_due(session)


def end_campaigns() -> int:
    """Campaigns past ends_at are ended and their unused budget returned to the brand."""
    with session_scope() as session:
        return campaigns.end_overdue(session)
