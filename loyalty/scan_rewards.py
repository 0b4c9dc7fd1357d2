"""POST /scans: verify, count, claim, and grant the brand's scan rewards to the first scanner.

Every limit is decided by the database inside one transaction (per campaign, a SAVEPOINT):
per-consumer daily/total counters, a tier's max_count, the campaign's count cap and budget are
conditional UPDATEs; the first that refuses turns that campaign's prize into "no prize" and
rolls back the others' increments. A unique (campaign, serial, kind) on coupons is the last line
against a double reward.
"""
from __future__ import annotations

from contextlib import nullcontext
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from codes import scans
from codes.models import Product
from codes.verify import LIVE, verify
from db import insert_ignore, isoformat, utcnow
from identity.models import Brand, Consumer, Partnership, Store
from identity.regions import covered_by_any, distance_m
from loyalty import draw, throttle
from loyalty.coupons import describe, make_coupon
from loyalty.models import Blacklist, Campaign, ConsumerCount, Coupon, TierCount

REGION_RADIUS_M = 30_000       # the nearest store within this distance tells the consumer's region
STORE_COUPON_RADIUS_M = 10_000
FAR_APART_M = 100_000
FAR_APART_WINDOW = timedelta(hours=48)


class _NoPrize(Exception):
    """Raised inside a campaign's savepoint to undo its counter increments."""


def scan(session: Session, consumer: Consumer, code: str, lat: float | None, lng: float | None,
         ip: str | None) -> dict:
    config = current_app.config
    throttle.hit((f"consumer:{consumer.id}", config.get("SCAN_LIMIT_PER_CONSUMER", 30)),
                 (f"ip:{ip}", config.get("SCAN_LIMIT_PER_IP", 120) if ip else 0))
    found = verify(session, code)
    brand_id = found.batch.brand_id if found.batch else None
    blacklisted = bool(brand_id) and session.scalar(select(Blacklist.id).where(
        Blacklist.brand_id == brand_id, Blacklist.consumer_id == consumer.id)) is not None
    bound_store = session.get(Store, found.code.bound_store_id) if found.code and found.code.bound_store_id else None
    region = bound_store.region_code if bound_store else _region_near(session, lat, lng)
    outcome = scans.scan(session, found, consumer.id, lat, lng, ip, region, may_claim=not blacklisted)
    rewards: list[Coupon] = []
    if outcome.claimed_now:
        rewards = _grant(session, consumer.id, found, lat, lng, region, bound_store)
        _after_claim(session, found, outcome, consumer.id)
    elif outcome.claimed_by == consumer.id and found.verdict in LIVE:
        rewards = list(session.scalars(select(Coupon).where(Coupon.serial == found.serial,
                                                            Coupon.consumer_id == consumer.id)))
    body = _response(session, found, outcome, rewards, lat, lng, bound_store, blacklisted)
    session.commit()   # after building the response: reading after commit would open a second transaction
    return body


def _after_claim(session: Session, found, outcome, consumer_id: str) -> None:
    """Hook for what else a first scan earns (the bound store's T+0 commission, referral rewards)."""
    for receiver in current_app.extensions.get("on_first_scan", []):
        receiver(session, found=found, outcome=outcome, consumer_id=consumer_id)


def _region_near(session: Session, lat: float | None, lng: float | None) -> str | None:
    store = nearest_store(session, lat, lng, REGION_RADIUS_M)
    return store.region_code if store else None


def nearest_store(session: Session, lat, lng, radius_m: float, brand_id: str | None = None) -> Store | None:
    found = stores_near(session, lat, lng, radius_m, brand_id, limit=1)
    return found[0][0] if found else None


def stores_near(session: Session, lat, lng, radius_m: float, brand_id: str | None = None, limit: int = 50):
    """(store, distance_m) within radius, nearest first: a bounding box in SQL, exact distance in Python."""
    if lat is None or lng is None:
        return []
    import math

    dlat = radius_m / 111_320
    dlng = radius_m / max(1.0, 111_320 * math.cos(math.radians(lat)))
    query = select(Store).where(Store.lat.between(lat - dlat, lat + dlat), Store.lng.between(lng - dlng, lng + dlng))
    if brand_id:
        query = query.join(Partnership, and_(Partnership.store_id == Store.id, Partnership.brand_id == brand_id))
    found = [(s, distance_m(lat, lng, s.lat, s.lng)) for s in session.scalars(query.limit(5000))]
    found = sorted([f for f in found if f[1] <= radius_m], key=lambda f: f[1])
    return found[:limit]


def live_campaigns(session: Session, brand_id: str, product_id: str, region: str | None) -> list[Campaign]:
    now = utcnow()
    rows = session.scalars(select(Campaign).where(
        Campaign.brand_id == brand_id, Campaign.type == "scan_reward", Campaign.status == "active",
        Campaign.starts_at <= now, Campaign.ends_at > now).order_by(Campaign.created_at))
    return [c for c in rows if product_id in c.product_ids and (not c.region_codes or
                                                                (region and covered_by_any(c.region_codes, region)))]


def _grant(session: Session, consumer_id: str, found, lat, lng, region, bound_store: Store | None) -> list[Coupon]:
    granted = []
    product: Product = found.product
    for campaign in live_campaigns(session, found.batch.brand_id, product.id, region):
        tier = draw.draw(campaign.seed, found.serial, [t["probability"] for t in campaign.tiers])
        if tier is None:
            continue
        reward = campaign.tiers[tier]["reward"]
        store_id = None
        if reward["kind"] == "store_coupon":
            store = bound_store or nearest_store(session, lat, lng, STORE_COUPON_RADIUS_M, campaign.brand_id)
            if store is None:
                continue   # no store to honour it: no prize rather than a coupon nobody can redeem
            store_id = store.id
        cost = _budget_cost(reward, product)
        try:
            # Only a campaign with several limits needs a savepoint to undo the ones already taken.
            guarded = session.begin_nested() if _limit_count(campaign, tier) > 1 else nullcontext()
            with guarded:
                _take_limits(session, campaign, consumer_id, tier, cost)
                coupon = make_coupon(
                    consumer_id=consumer_id, campaign=campaign, serial=found.serial, tier=tier, kind=reward["kind"],
                    value_fen=reward.get("value_fen") or cost, budget_fen=cost,
                    min_spend_fen=reward.get("min_spend_fen") or 0, valid_days=reward.get("valid_days") or 30,
                    store_id=store_id, product_id=product.id if reward["kind"] == "free_item" else None)
                session.add(coupon)
                session.flush()
            granted.append(coupon)
        except _NoPrize:
            continue
    return granted


def _limit_count(campaign: Campaign, tier: int) -> int:
    return (1 + (campaign.per_consumer_daily is not None) + (campaign.per_consumer_total is not None)
            + (campaign.tiers[tier].get("max_count") is not None))


def _budget_cost(reward: dict, product: Product) -> int:
    if reward["kind"] == "brand_coupon":
        return reward["value_fen"]
    if reward["kind"] == "free_item":
        return product.cost_fen if product.cost_fen is not None else product.price_fen
    return 0   # store coupons are the store's own discount; points carry no cash


def _bump(session: Session, model, where, column, limit: int | None) -> bool:
    condition = [where] if limit is None else [where, column < limit]
    stmt = update(model).where(*condition).values({column.key: column + 1}).execution_options(synchronize_session=False)
    return session.execute(stmt).rowcount == 1


def _take_limits(session: Session, campaign: Campaign, consumer_id: str, tier: int, cost: int) -> None:
    """Per-consumer caps, tier stock, then count cap and budget: all conditional, in this order."""
    day = utcnow().date().isoformat()
    for period, limit in ((day, campaign.per_consumer_daily), ("total", campaign.per_consumer_total)):
        if limit is None:
            continue
        insert_ignore(session, ConsumerCount.__table__, [{"campaign_id": campaign.id, "consumer_id": consumer_id,
                                                          "period": period, "count": 0}],
                      ["campaign_id", "consumer_id", "period"])
        where = and_(ConsumerCount.campaign_id == campaign.id, ConsumerCount.consumer_id == consumer_id,
                     ConsumerCount.period == period)
        if not _bump(session, ConsumerCount, where, ConsumerCount.count, limit):
            raise _NoPrize()
    max_count = campaign.tiers[tier].get("max_count")
    if max_count is not None:
        insert_ignore(session, TierCount.__table__, [{"campaign_id": campaign.id, "tier": tier, "issued": 0}],
                      ["campaign_id", "tier"])
        where = and_(TierCount.campaign_id == campaign.id, TierCount.tier == tier)
        if not _bump(session, TierCount, where, TierCount.issued, max_count):
            raise _NoPrize()
    conditions = [Campaign.id == campaign.id, Campaign.status == "active",
                  Campaign.budget_fen - Campaign.committed_fen - Campaign.spent_fen - Campaign.released_fen >= cost]
    if campaign.max_rewards is not None:
        conditions.append(Campaign.issued < campaign.max_rewards)
    won = session.execute(update(Campaign).where(*conditions)
                          .values(issued=Campaign.issued + 1, committed_fen=Campaign.committed_fen + cost)
                          .execution_options(synchronize_session=False)).rowcount == 1
    if not won:
        raise _NoPrize()


def _response(session: Session, found, outcome, rewards, lat, lng, bound_store, blacklisted) -> dict:
    product = found.product if found.verdict in LIVE or found.verdict in ("inactive", "voided") else None
    brand = session.get(Brand, product.brand_id) if product else None
    body = {
        "verdict": outcome.verdict,
        "scan_count": outcome.scan_count,
        "first_scanned_at": isoformat(outcome.first_scan_at),
        "first_scan_place": _coarse(outcome.first_scan_lat, outcome.first_scan_lng),
        "product": {"id": product.id, "name": product.name, "brand_id": brand.id, "brand_name": brand.name}
        if product else None,
        "store": {"id": bound_store.id, "name": bound_store.name} if bound_store else None,
        "rewards": [describe(c) for c in rewards],
        "warning": _warning(outcome, lat, lng),
    }
    if blacklisted:
        body["notice"] = "Rewards are not available for this account."
    return body


def _coarse(lat, lng):
    return None if lat is None or lng is None else {"lat": round(lat, 2), "lng": round(lng, 2)}


def _warning(outcome, lat, lng) -> dict | None:
    """Counterfeit hints for a repeat scan: scanned many times, or far from where it was first scanned."""
    if outcome.verdict != "genuine_repeat":
        return None
    threshold = current_app.config.get("REPEAT_SCAN_WARNING", 5)
    if outcome.scan_count >= threshold:
        return {"code": "many_scans", "message": f"This code has been scanned {outcome.scan_count} times; "
                                                 "a genuine label is rarely scanned this often. It may be copied."}
    if None not in (lat, lng, outcome.first_scan_lat, outcome.first_scan_lng) and outcome.first_scan_at:
        apart = distance_m(lat, lng, outcome.first_scan_lat, outcome.first_scan_lng)
        if apart > FAR_APART_M and utcnow() - outcome.first_scan_at < FAR_APART_WINDOW:
            return {"code": "far_apart", "message": f"This code was first scanned {apart / 1000:.0f} km away "
                                                    "less than two days ago. The label may be copied."}
    return None
