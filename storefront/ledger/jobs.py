"""The ledger's background jobs: module-level functions taking ids (or nothing), safe to run twice.
They run in the app's context and pass its settings on to the services."""

from __future__ import annotations

from flask import current_app

import db
from storefront.ledger import payouts, providers, settlement, transfers


def run_payouts(limit: int = 500) -> dict:
    """Pay every requested payout (and finish any whose worker died); the admin endpoint and the sweep."""
    config = current_app.config
    provider = providers.get_provider(
        config["PAYOUT_PROVIDER"],
        simulated_failures=config["SIMULATED_PAYOUT_FAILURES"],
        simulated_unavailable=config["SIMULATED_PAYOUT_UNAVAILABLE"],
    )
    return payouts.run_payouts(provider, lease_seconds=config["PAYOUT_LEASE_SECONDS"], limit=limit)


def expire_pending_transfers() -> int:
    """Release two-phase reservations whose time ran out."""
    with db.session_scope() as session:
        return transfers.expire_pending(session)


def settle() -> int:
    """Move every store credit whose refund window has passed from pending to available."""
    with db.session_scope() as session:
        return settlement.settle_due(session)
