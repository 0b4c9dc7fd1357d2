"""Refund jobs and the payments sweep: module-level functions taking ids, safe to run twice. They
run in the app's context and pass its settings on to the services."""

from __future__ import annotations

from flask import current_app

import jobs
from db import session_scope
from storefront.payments import notices, refunds
from storefront.payments.provider import get_refund_provider


def _provider():
    config = current_app.config
    return get_refund_provider(
        config["PAYMENT_PROVIDER"],
        failures=config["SIMULATED_REFUND_FAILURES"],
        unavailable=config["SIMULATED_REFUND_UNAVAILABLE"],
        delay_seconds=config["SIMULATED_REFUND_DELAY_SECONDS"],
    )


def process_refund(refund_id: str) -> str:
    """Send one approved refund to the provider and, once it confirms, post the ledger reversal."""
    return refunds.process_refund(_provider(), refund_id, lease_seconds=current_app.config["REFUND_LEASE_SECONDS"])


def auto_approve(refund_id: str) -> str:
    """At the end of the store's time to decide: approve the request if it is still undecided, then send it."""
    with session_scope() as session:
        approved = refunds.auto_approve_due(session, refund_id=refund_id)
    return process_refund(refund_id) if approved else "skipped"


def enqueue_refund(refund_id: str) -> None:
    """After the commit that approved it: the refund job (a second enqueue of a queued one is ignored)."""
    jobs.enqueue(process_refund, refund_id, job_id=f"refund:{refund_id}")


def sweep() -> dict:
    """Refunds: apply kept payment notices, approve undecided requests, (re)send due ones."""
    config = current_app.config
    with session_scope() as session:
        applied = notices.apply_received(session, settle_delay_seconds=config["SETTLEMENT_DELAY_SECONDS"])
        approved = refunds.auto_approve_due(session)
    counts = {"notices_applied": applied, "auto_approved": len(approved), "succeeded": 0, "failed": 0, "retry": 0}
    provider = _provider()
    for refund_id in refunds.due_refund_ids(config["REFUND_LEASE_SECONDS"]):
        outcome = refunds.process_refund(provider, refund_id, lease_seconds=config["REFUND_LEASE_SECONDS"])
        if outcome in counts:
            counts[outcome] += 1
    return counts
