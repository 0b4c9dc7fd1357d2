"""What starts a referral reward, heard from what already happens:

- a referee's first claimed scan of a brand's items: the scans view calls `after_scan` with the
  scan's answer once its batch has committed. It asks this process's catalog (codes/catalog.py),
  never the database, whether the brand runs a first-scan referral campaign and whether the
  consumer has a referrer, so a scan by a consumer with no referrer (or of a brand without such a
  campaign) costs no round trip at all; only a referee's first scan enqueues the reward job. The
  catalog's `referees` area is bumped by every binding, and is current as of the scan's own batch
  (a binding always commits before its referee's first scan: binding needs a consumer with no scan);
- a referee's paid order: storefront's order_paid signal, answered inside the payment's
  transaction for orders that carry a referrer only (the order row says so), enqueues the reward
  job after that commit.

The jobs (loyalty/referral/jobs.py) decide from the database alone, and the sweep finds any
trigger whose job never ran, so what the catalog or an enqueue misses is late, never lost.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

import jobs
from codes.catalog import Catalog, catalog, snapshot, versioned_area
from db import session_scope, utcnow
from loyalty.models import Campaign, CampaignStatus, CampaignType
from loyalty.scanning.catalog import CAMPAIGNS

REFEREES = versioned_area("referees")


def live_referral_campaigns(cached: Catalog, session: Session, brand_id: str) -> tuple:
    """The brand's active referral campaigns that have not ended (copies, kept until campaigns change)."""
    live = cached.cache(CAMPAIGNS, "referral")
    found = live.get(brand_id)
    if found is None:
        generation = cached.generation(CAMPAIGNS)
        found = tuple(
            snapshot(c)
            for c in session.scalars(
                select(Campaign).where(
                    Campaign.brand_id == brand_id,
                    Campaign.type == CampaignType.REFERRAL,
                    Campaign.status == CampaignStatus.ACTIVE,
                    Campaign.ends_at > utcnow(),
                )
            )
        )
        cached.keep(CAMPAIGNS, generation, live, brand_id, found)
    return found


def is_referee(cached: Catalog, session: Session, consumer_id: str) -> bool:
    """Whether the consumer is bound to a referrer (every referee, one set, reloaded after a binding)."""
    from loyalty.referral.models import Binding

    sets = cached.cache(REFEREES, "all")
    found = sets.get("all")
    if found is None:
        generation = cached.generation(REFEREES)
        found = frozenset(session.scalars(select(Binding.referee_id)))
        cached.keep(REFEREES, generation, sets, "all", found)
    return consumer_id in found


def after_scan(consumer_id: str, body: dict) -> None:
    """A scan's answer, after its batch committed: a referee's first claimed scan of a brand with a
    live first-scan referral campaign enqueues the reward job; anything else returns at once. (Its
    own session connects only if a copy has to be loaded, and is closed before the job runs.)"""
    if body["verdict"] != "genuine" or body["scan_count"] != 1 or body.get("notice") or not body.get("product"):
        return
    brand_id = body["product"]["brand_id"]
    cached = catalog()
    now = utcnow()
    with session_scope() as session:
        wanted = [
            c
            for c in live_referral_campaigns(cached, session, brand_id)
            if c.settings.get("referral", {}).get("trigger") == "first_scan" and c.starts_at <= now
        ]
        referee = bool(wanted) and is_referee(cached, session, consumer_id)
    if referee:
        from loyalty.referral import jobs as referral_jobs

        jobs.enqueue(
            referral_jobs.reward_first_scan, consumer_id, brand_id, job_id=f"referral-scan-{consumer_id}-{brand_id}"
        )


def on_order_paid(session: Session, *, order, settle_delay_seconds: int) -> list:
    """storefront's order_paid receiver: an order with a referrer asks for its first-order rewards
    once the payment commits (no legs of its own in the payment's transfer)."""
    if order.referrer_id:
        from loyalty.referral import jobs as referral_jobs

        jobs.enqueue_after_commit(session, referral_jobs.reward_order, order.id, job_id=f"referral-order-{order.id}")
    return []
