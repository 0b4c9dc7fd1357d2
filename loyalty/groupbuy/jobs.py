"""Group-buy jobs: module-level functions taking ids, safe to run twice; the sweep behind them."""

from __future__ import annotations

from flask import current_app

from db import session_scope
from loyalty.groupbuy import groups
from storefront.payments import jobs as payment_jobs


def expire_group(group_id: str) -> int:
    """At a group's expires_at: decide it (failed, or succeeded with virtual members) and send its
    refunds. Returns how many refunds it started."""
    with session_scope() as session:
        refund_ids = groups.expire_group(session, group_id)
    for refund_id in refund_ids:
        payment_jobs.enqueue_refund(refund_id)
    return len(refund_ids)


def split_group(group_id: str) -> int:
    """A group succeeded: split each paid member's escrowed order."""
    with session_scope() as session:
        return groups.split_group(
            session, group_id, settle_delay_seconds=current_app.config["SETTLEMENT_DELAY_SECONDS"]
        )


def sweep() -> dict:
    """Group-buy: decide groups whose time ran out, split succeeded groups not split yet."""
    with session_scope() as session:
        due, unsplit = groups.due_groups(session), groups.unsplit_groups(session)
    return {"expired": sum(1 for g in due if expire_group(g) >= 0), "split": sum(split_group(g) for g in unsplit)}
