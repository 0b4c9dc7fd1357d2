"""A first scan's prizes: the draw in every live campaign of its product, then the campaigns' limits
taken by conditional UPDATEs (loyalty/campaigns.py owns them) and the coupons issued.

Per campaign, one UPDATE takes the whole batch's prizes when the budget and count cap allow them
all (on PostgreSQL together with the INSERT of their coupons, in one statement); otherwise each
winner's caps (per-consumer daily/total, tier max_count, count cap, budget) are taken one at a
time, and the first that refuses turns that prize into "no prize". A unique (campaign, serial,
kind) on coupons is the last line against a double reward. This comes last in a batch, just
before the commit, because every batch's winners update the same campaign rows.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import insert
from sqlalchemy.orm import Session

from codes.catalog import Snapshot, catalog
from db import utcnow
from identity.nearby import nearest_store
from identity.regions import covered_by_any
from loyalty import campaigns, draw
from loyalty.coupons import COUPON_COLUMNS, coupon_row
from loyalty.models import Coupon, RewardKind
from loyalty.scanning import catalog as scan_catalog
from loyalty.scanning.request import ScanState
from pgfast import Writes, json_array, json_rows, pg_insert_json, pg_text

STORE_COUPON_RADIUS_M = 10_000


class _NoPrize(Exception):
    """Raised inside a winner's savepoint to undo the counter increments already taken."""


@dataclass
class Win:
    scan: ScanState
    campaign: Snapshot
    tier: int
    reward: dict
    cost: int
    store_id: str | None


def live_campaigns(session: Session, brand_id: str, product_id: str, region: str | None) -> list[Snapshot]:
    now = utcnow()
    return [
        c
        for c in scan_catalog.live_campaigns(catalog(), session, brand_id)
        if c.starts_at <= now < c.ends_at
        and product_id in c.product_ids
        and (not c.region_codes or (region and covered_by_any(c.region_codes, region)))
    ]


def draws(session: Session, s: ScanState) -> list[Win]:
    """The prizes a first scan draws in every live campaign of its product (before any limit)."""
    wins = []
    product = s.found.product
    for campaign in live_campaigns(session, s.found.batch.brand_id, product.id, s.region):
        tier = draw.draw(campaign.seed, s.found.serial, [t["probability"] for t in campaign.tiers])
        if tier is None:
            continue
        reward = campaign.tiers[tier]["reward"]
        store_id = None
        if reward["kind"] == RewardKind.STORE_COUPON:
            store = s.bound_store or nearest_store(
                session, s.request.lat, s.request.lng, STORE_COUPON_RADIUS_M, campaign.brand_id
            )
            if store is None:
                continue  # no store to honour it: no prize rather than a coupon nobody can redeem
            store_id = store.id
        wins.append(Win(s, campaign, tier, reward, _budget_cost(reward, product), store_id))
    return wins


def coupon(w: Win) -> dict:
    """The coupon a win issues if its limits let it (coupons.coupon_row)."""
    reward, product = w.reward, w.scan.found.product
    return coupon_row(
        consumer_id=w.scan.request.consumer_id,
        campaign=w.campaign,
        serial=w.scan.found.serial,
        tier=w.tier,
        kind=reward["kind"],
        value_fen=reward.get("value_fen") or w.cost,
        budget_fen=w.cost,
        min_spend_fen=reward.get("min_spend_fen") or 0,
        valid_days=reward.get("valid_days") or 30,
        store_id=w.store_id,
        product_id=product.id if reward["kind"] == RewardKind.FREE_ITEM else None,
    )


def award(wins: list[Win], coupons: dict[int, dict]) -> None:
    """Each win's coupon (by id(win)) into its scan's rewards, in the order given."""
    for w in wins:
        w.scan.rewards.append(Snapshot(**coupons[id(w)]))


def limit_count(campaign: Snapshot, tier: int) -> int:
    """How many limits a prize of this tier takes: the budget (with the count cap), and each cap set."""
    return (
        1
        + (campaign.per_consumer_daily is not None)
        + (campaign.per_consumer_total is not None)
        + (campaign.tiers[tier].get("max_count") is not None)
    )


def _budget_cost(reward: dict, product: Snapshot) -> int:
    if reward["kind"] == RewardKind.BRAND_COUPON:
        return reward["value_fen"]
    if reward["kind"] == RewardKind.FREE_ITEM:
        return product.cost_fen if product.cost_fen is not None else product.price_fen
    return 0  # store coupons are the store's own discount; points carry no cash


def grant(session: Session, writes: Writes, claimed: list[ScanState]) -> None:
    """Draw every claimed scan in every live campaign of its product, then take the winners' limits
    campaign by campaign (in id order) and issue the coupons that got through."""
    wins = sorted((w for s in claimed for w in draws(session, s)), key=lambda w: w.campaign.id)
    rows = {id(w): coupon(w) for w in wins}
    granted: list[Win] = []
    to_issue: list[dict] = []
    for _, group in groupby(wins, key=lambda w: w.campaign.id):
        group = list(group)
        if all(limit_count(w.campaign, w.tier) == 1 for w in group):
            if writes.raw is not None:
                if _grant_all(writes, group, [rows[id(w)] for w in group]):  # taken and issued at once
                    granted += group
                    continue
            elif _take_all(session, group):
                granted += group
                to_issue += [rows[id(w)] for w in group]
                continue
        for w in group:
            try:
                # Only a winner with several limits needs a savepoint to undo the ones already taken.
                with session.begin_nested() if limit_count(w.campaign, w.tier) > 1 else nullcontext():
                    _take_limits(session, w.campaign, w.scan.request.consumer_id, w.tier, w.cost)
                granted.append(w)
                to_issue.append(rows[id(w)])
            except _NoPrize:
                continue
    award(sorted(granted, key=lambda w: w.scan.request.at), rows)
    if to_issue:
        writes.add(_PG_ISSUE, json_rows(to_issue), _ISSUE, to_issue)


# Built once: building a statement costs more than running it.
_ISSUE = insert(Coupon.__table__)
_PG_ISSUE = pg_insert_json(Coupon.__table__, COUPON_COLUMNS)
# _take_all and the INSERT of its coupons as one statement: the coupons exist only if the UPDATE took.
_PG_GRANT_ALL = {
    capped: f"WITH took AS ({pg_text(take)} RETURNING id) "
    + pg_insert_json(Coupon.__table__, COUPON_COLUMNS, " WHERE EXISTS (SELECT 1 FROM took)", param="%(rows)s")
    for capped, take in campaigns.TAKE_BUDGET.items()
}


def _grant_all(writes: Writes, group: list[Win], coupons: list[dict]) -> bool:
    """PostgreSQL: _take_all and the INSERT of the group's coupons in one statement, sent in one round
    trip with the writes queued before it. False (nothing taken or issued) when the campaign refuses."""
    campaign = group[0].campaign
    params = {
        "campaign_id": campaign.id,
        "count": len(group),
        "cost": sum(w.cost for w in group),
        "cap": campaign.max_rewards,
        "rows": json_array(coupons),
    }
    return writes.send(_PG_GRANT_ALL[campaign.max_rewards is not None], params).rowcount == len(group)


def _take_all(session: Session, group: list[Win]) -> bool:
    """The whole batch's prizes of one campaign (whose only limits are its count cap and budget) at once."""
    campaign = group[0].campaign
    return campaigns.take_budget(session, campaign.id, len(group), sum(w.cost for w in group), campaign.max_rewards)


def _take_limits(session: Session, campaign: Snapshot, consumer_id: str, tier: int, cost: int) -> None:
    """Per-consumer caps, tier stock, then count cap and budget: all conditional, in this order."""
    day = utcnow().date().isoformat()
    for period, limit in ((day, campaign.per_consumer_daily), ("total", campaign.per_consumer_total)):
        if limit is not None and not campaigns.take_consumer_quota(session, campaign.id, consumer_id, period, limit):
            raise _NoPrize()
    max_count = campaign.tiers[tier].get("max_count")
    if max_count is not None and not campaigns.take_tier_stock(session, campaign.id, tier, max_count):
        raise _NoPrize()
    if not campaigns.take_budget(session, campaign.id, 1, cost, campaign.max_rewards):
        raise _NoPrize()
