"""Background jobs: module-level functions taking ids (or nothing), safe to run twice."""
from __future__ import annotations

from flask import current_app

import db
from storefront import ledger, payouts


def run_payouts(limit: int = 500) -> dict:
    """Pay every requested payout (and finish any whose worker died); the admin endpoint and the sweep."""
    return payouts.run_payouts(current_app._get_current_object(), limit)


def expire_pending_transfers() -> int:
    """Release two-phase reservations whose time ran out."""
    with db.session_scope() as session:
        return ledger.expire_pending(session)
