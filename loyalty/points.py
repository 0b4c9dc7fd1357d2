"""Points: what a consumer's points prizes add up to, per brand, and where each came from.

A points prize is a coupon of kind `points` (loyalty.scanning.prizes) whose value_fen is the number
of points; it carries no cash, so no budget or ledger money is behind it. Points count while their
coupon is issued and before its expires_at (the reward's valid_days); the expiry sweep marks them
expired like any other coupon. Points of different brands are different currencies, so the wallet
gets each brand's balance as well as the total.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import utcnow
from identity.models import Brand
from loyalty.models import Campaign, Coupon, CouponStatus, RewardKind
from pagination import keyset_page


def _live(now: datetime):
    return (Coupon.status == CouponStatus.ISSUED, Coupon.expires_at > now)


def state(coupon: Coupon, now: datetime) -> str:
    """active (counts in the balance) | expired | revoked: a points grant as the wallet shows it."""
    if coupon.status == CouponStatus.ISSUED:
        return "active" if coupon.expires_at > now else "expired"
    return coupon.status


def balances(session: Session, consumer_id: str, now: datetime) -> list[dict]:
    """The consumer's live points per brand, largest first: [{brand_id, brand_name, points}]."""
    rows = session.execute(
        select(Coupon.brand_id, Brand.name, func.sum(Coupon.value_fen))
        .join(Brand, Brand.id == Coupon.brand_id)
        .where(Coupon.consumer_id == consumer_id, Coupon.kind == RewardKind.POINTS, *_live(now))
        .group_by(Coupon.brand_id, Brand.name)
    )
    found = [{"brand_id": b, "brand_name": name, "points": int(points)} for b, name, points in rows]
    return sorted(found, key=lambda row: (-row["points"], row["brand_id"]))


def wallet(session: Session, consumer_id: str, limit: int, cursor: str | None) -> dict:
    """GET /me/points: {balance, brands, items (each points grant, newest first), next_cursor}."""
    now = utcnow()
    query = select(Coupon).where(Coupon.consumer_id == consumer_id, Coupon.kind == RewardKind.POINTS)
    grants, next_cursor = keyset_page(session, query, [Coupon.issued_at, Coupon.id], limit, cursor)
    campaign_ids = {c.campaign_id for c in grants if c.campaign_id}
    brand_ids = {c.brand_id for c in grants}
    campaigns = (
        dict(session.execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(campaign_ids))).all())
        if campaign_ids
        else {}
    )
    brands = dict(session.execute(select(Brand.id, Brand.name).where(Brand.id.in_(brand_ids))).all()) if grants else {}
    per_brand = balances(session, consumer_id, now)
    return {
        "balance": sum(b["points"] for b in per_brand),
        "brands": per_brand,
        "items": [
            {
                "id": c.id,
                "at": c.issued_at,
                "points": c.value_fen,
                "status": state(c, now),
                "expires_at": c.expires_at,
                "brand_id": c.brand_id,
                "brand_name": brands.get(c.brand_id),
                "campaign_id": c.campaign_id,
                "campaign_name": campaigns.get(c.campaign_id),
                "coupon_id": c.id,
                "serial": c.serial,
            }
            for c in grants
        ],
        "next_cursor": next_cursor,
    }
