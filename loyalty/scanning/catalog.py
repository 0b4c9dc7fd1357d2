"""The scan path's copies of loyalty's rows that change, kept in the process's catalog (codes/catalog.py)
beside the codes' own and checked by the same one versions SELECT per transaction: each brand's live
scan-reward campaigns, the campaigns a batch's one statement found short of prizes, and each brand's
blacklist. Every change to a campaign or a blacklist bumps its area in the same transaction
(loyalty/campaigns.py, loyalty/blacklist.py)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from codes.catalog import Catalog, Snapshot, snapshot, versioned_area
from db import utcnow
from loyalty.models import Blacklist, Campaign, CampaignStatus, CampaignType

CAMPAIGNS = versioned_area("campaigns")
BLACKLIST = versioned_area("blacklist")


def live_campaigns(cached: Catalog, session: Session, brand_id: str) -> tuple[Snapshot, ...]:
    """The brand's active scan-reward campaigns that have not ended, oldest first (windows are
    checked at use; status and budget again by the conditional UPDATE that grants a reward)."""
    live = cached.cache(CAMPAIGNS, "live")
    found = live.get(brand_id)
    if found is None:
        generation = cached.generation(CAMPAIGNS)
        found = tuple(
            snapshot(c)
            for c in session.scalars(
                select(Campaign)
                .where(
                    Campaign.brand_id == brand_id,
                    Campaign.type == CampaignType.SCAN_REWARD,
                    Campaign.status == CampaignStatus.ACTIVE,
                    Campaign.ends_at > utcnow(),
                )
                .order_by(Campaign.created_at)
            )
        )
        cached.keep(CAMPAIGNS, generation, live, brand_id, found)
    return found


def short_of_prizes(cached: Catalog, campaign_id: str) -> bool:
    """Whether a batch's one statement found this campaign unable to take all its prizes (budget or
    count cap nearly spent) since the campaigns last changed: its winners then take the general
    path, which gives out what fits, instead of having every batch refused."""
    return campaign_id in cached.cache(CAMPAIGNS, "short")


def mark_short_of_prizes(cached: Catalog, campaign_ids) -> None:
    short = cached.cache(CAMPAIGNS, "short")
    generation = cached.generation(CAMPAIGNS)
    for campaign_id in campaign_ids:
        cached.keep(CAMPAIGNS, generation, short, campaign_id, True)


def blacklisted(cached: Catalog, session: Session, brand_id: str, consumer_id: str) -> bool:
    lists = cached.cache(BLACKLIST, "consumers")
    found = lists.get(brand_id)
    if found is None:
        generation = cached.generation(BLACKLIST)
        found = frozenset(session.scalars(select(Blacklist.consumer_id).where(Blacklist.brand_id == brand_id)))
        cached.keep(BLACKLIST, generation, lists, brand_id, found)
    return consumer_id in found
