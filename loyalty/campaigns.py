"""Scan-reward campaigns: create (reserving the budget in the ledger), read, pause, resume, end.

Money: at creation the whole budget moves brand budget -> campaign reserve. Coupons commit part
of it (committed_fen); a redemption moves the coupon's cost reserve -> store pending (spent_fen);
ending the campaign returns what is neither committed nor spent to the brand (released_fen), and
coupons that expire after the end return theirs too. Invariant, checked by tests:
    reserve balance == budget_fen - spent_fen - released_fen  and  committed + spent + released <= budget
"""
from __future__ import annotations

import os
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from codes import catalog
from codes.models import Product
from db import isoformat, new_id, utcnow
from errors import Conflict, Forbidden, InsufficientFunds, NotFound, ValidationFailed
from identity.models import Brand
from identity.regions import is_region_code
from loyalty import draw
from loyalty.models import Campaign
from storefront.ledger import accounts, transfers

REWARD_KINDS = ("brand_coupon", "store_coupon", "points", "free_item")


def naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def reserve_account(campaign_id: str) -> accounts.AccountRef:
    return ("campaign", campaign_id, "reserve")


brand_budget = accounts.brand_budget


def _validate(session: Session, brand: Brand, starts_at, ends_at, product_ids, region_codes, tiers) -> None:
    errors: dict[str, list[str]] = {}
    if ends_at <= starts_at:
        errors["ends_at"] = ["Must be after starts_at."]
    elif ends_at <= utcnow():
        errors["ends_at"] = ["Must be in the future."]
    if not product_ids:
        errors["product_ids"] = ["At least one product."]
    else:
        found = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(product_ids)))}
        missing = [pid for pid in product_ids if pid not in found]
        foreign = [pid for pid, p in found.items() if p.brand_id != brand.id]
        if missing or foreign:
            errors["product_ids"] = [f"Not products of this brand: {', '.join((missing + foreign)[:5])}."]
    bad_regions = [r for r in region_codes or [] if not is_region_code(r)]
    if bad_regions:
        errors["region_codes"] = [f"Not six-digit region codes: {', '.join(bad_regions[:5])}."]
    total = sum(t["probability"] for t in tiers)
    if total > 1 + 1e-9:
        errors["tiers"] = [f"Probabilities sum to {total:.6f}; they must sum to at most 1 (the rest is no prize)."]
    for i, tier in enumerate(tiers):
        reward = tier["reward"]
        if reward["kind"] != "free_item" and not reward.get("value_fen"):
            errors.setdefault("tiers", []).append(f"tiers[{i}].reward.value_fen: required and positive for {reward['kind']}.")
    if errors:
        raise ValidationFailed(errors)


def create_scan_reward(session: Session, brand: Brand, *, name: str, starts_at: datetime, ends_at: datetime,
                       product_ids: list[str], budget_fen: int, tiers: list[dict], region_codes: list[str] | None = None,
                       max_rewards: int | None = None, per_consumer_daily: int | None = None,
                       per_consumer_total: int | None = None) -> Campaign:
    starts_at, ends_at = naive_utc(starts_at), naive_utc(ends_at)
    _validate(session, brand, starts_at, ends_at, product_ids, region_codes, tiers)
    campaign = Campaign(id=new_id("cp"), brand_id=brand.id, type="scan_reward", name=name, status="active",
                        starts_at=starts_at, ends_at=ends_at, product_ids=list(dict.fromkeys(product_ids)),
                        region_codes=sorted(set(region_codes or [])), budget_fen=budget_fen, committed_fen=0,
                        spent_fen=0, released_fen=0, max_rewards=max_rewards, issued=0,
                        per_consumer_daily=per_consumer_daily, per_consumer_total=per_consumer_total,
                        tiers=tiers, seed=os.urandom(32), settings={})
    session.add(campaign)
    session.flush()
    try:
        transfers.transfer(session, brand_budget(brand.id), reserve_account(campaign.id), budget_fen,
                        key=f"campaign:{campaign.id}:reserve", kind="campaign_reserve", reference=campaign.id)
    except InsufficientFunds:
        session.rollback()
        raise InsufficientFunds("The brand's funded balance is below this budget; deposit first.",
                                fields={"budget_fen": ["Exceeds the brand's available balance."]})
    catalog.bump(session, "campaigns")
    session.commit()
    return campaign


def own_campaign(session: Session, brand: Brand, campaign_id: str, lock: bool = False) -> Campaign:
    query = select(Campaign).where(Campaign.id == campaign_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    campaign = session.scalar(query)
    if campaign is None:
        raise NotFound("No such campaign.")
    if campaign.brand_id != brand.id:
        raise Forbidden("This campaign belongs to another brand.")
    return campaign


def describe(campaign: Campaign) -> dict:
    now = utcnow()
    live = campaign.status == "active" and campaign.starts_at <= now < campaign.ends_at
    remaining = campaign.budget_fen - campaign.committed_fen - campaign.spent_fen - campaign.released_fen
    return {
        "id": campaign.id, "type": campaign.type, "name": campaign.name, "status": campaign.status, "live": live,
        "starts_at": isoformat(campaign.starts_at), "ends_at": isoformat(campaign.ends_at),
        "product_ids": campaign.product_ids, "region_codes": campaign.region_codes,
        "budget_fen": campaign.budget_fen, "max_rewards": campaign.max_rewards,
        "per_consumer_daily": campaign.per_consumer_daily, "per_consumer_total": campaign.per_consumer_total,
        "tiers": campaign.tiers, "issued": campaign.issued, "committed_fen": campaign.committed_fen,
        "spent_fen": campaign.spent_fen, "released_fen": campaign.released_fen, "remaining_budget_fen": remaining,
        "seed_sha256": draw.commitment(campaign.seed),
        "seed": campaign.seed.hex() if campaign.status == "ended" else None,
        "created_at": isoformat(campaign.created_at), "ended_at": isoformat(campaign.ended_at),
    }


def set_status(session: Session, brand: Brand, campaign_id: str, action: str) -> Campaign:
    campaign = own_campaign(session, brand, campaign_id, lock=True)
    if campaign.status == "ended":
        raise Conflict("The campaign has ended.", fields={"status": ["ended"]})
    if action == "end":
        _end(session, campaign)
    else:
        campaign.status = "paused" if action == "pause" else "active"
        catalog.bump(session, "campaigns")
    session.commit()
    return campaign


def _end(session: Session, campaign: Campaign) -> None:
    """End now and return the unreserved budget; outstanding coupons keep their share until used or expired."""
    unused = campaign.budget_fen - campaign.committed_fen - campaign.spent_fen - campaign.released_fen
    campaign.status, campaign.ended_at = "ended", utcnow()
    catalog.bump(session, "campaigns")
    if unused > 0:
        transfers.transfer(session, reserve_account(campaign.id), brand_budget(campaign.brand_id), unused,
                        key=f"campaign:{campaign.id}:end", kind="campaign_release", reference=campaign.id)
        campaign.released_fen += unused


def end_overdue(session: Session) -> int:
    """Sweep: campaigns past ends_at are ended and their unused budget returned."""
    ended = 0
    for campaign_id in list(session.scalars(select(Campaign.id).where(Campaign.status != "ended",
                                                                      Campaign.ends_at <= utcnow()))):
        campaign = session.scalar(select(Campaign).where(Campaign.id == campaign_id).with_for_update()
                                  .execution_options(populate_existing=True))
        if campaign.status != "ended":
            _end(session, campaign)
            ended += 1
        session.commit()
    return ended
