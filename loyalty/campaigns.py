"""Scan-reward campaigns: create (reserving the budget in the ledger), read, pause, resume, end;
and the one place the campaigns table is written, its counters included (take_budget for prizes,
spend/unspend/release_commitment for coupons used, refunded and expired).

Money: at creation the whole budget moves brand budget -> campaign reserve. Coupons commit part
of it (committed_fen); a redemption moves the coupon's cost reserve -> store pending (spent_fen);
ending the campaign returns what is neither committed nor spent to the brand (released_fen), and
coupons that expire after the end return theirs too. Invariant, checked by tests:
    reserve balance == budget_fen - spent_fen - released_fen  and  committed + spent + released <= budget
What is left to give out is `remaining(...)`, one expression for a row and (REMAINING) in SQL.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, bindparam, literal_column, or_, select, update
from sqlalchemy.orm import Session

from codes import catalog
from codes.models import Product
from db import insert_ignore, new_id, utcnow
from errors import Conflict, Forbidden, InsufficientFunds, NotFound, ValidationFailed
from identity.regions import is_region_code
from loyalty import draw
from loyalty.models import Campaign, CampaignStatus, CampaignType, ConsumerCount, RewardKind, TierCount
from loyalty.scanning.catalog import CAMPAIGNS
from pagination import keyset_page
from storefront.ledger import accounts, balances, transfers
from storefront.ledger.models import LedgerKind


def remaining(c):
    """The budget neither committed, spent nor released: of a campaign row (an int), or of the
    campaigns table's columns (a SQL expression: REMAINING, or over an alias's columns)."""
    return c.budget_fen - c.committed_fen - c.spent_fen - c.released_fen


_campaigns = Campaign.__table__
REMAINING = remaining(_campaigns.c)


def naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def reserve_account(campaign_id: str) -> accounts.AccountRef:
    return ("campaign", campaign_id, "reserve")


brand_budget = accounts.brand_budget


def _validate(session: Session, brand_id: str, starts_at, ends_at, product_ids, region_codes, tiers) -> None:
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
        foreign = [pid for pid, p in found.items() if p.brand_id != brand_id]
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
        if reward["kind"] != RewardKind.FREE_ITEM and not reward.get("value_fen"):
            errors.setdefault("tiers", []).append(
                f"tiers[{i}].reward.value_fen: required and positive for {reward['kind']}."
            )
    if errors:
        raise ValidationFailed(errors)


def _with_free_item_values(session: Session, product_ids: list[str], tiers: list[dict]) -> list[dict]:
    """A `free_item` reward without value_fen is worth the product's cost_fen (its price_fen if it has
    no cost), what the brand pays the store for it: written into the tier when the campaign's products
    agree on it; with products of different costs it stays unset and each scan uses its product's."""
    if not any(t["reward"]["kind"] == RewardKind.FREE_ITEM and not t["reward"].get("value_fen") for t in tiers):
        return tiers
    products = session.scalars(select(Product).where(Product.id.in_(product_ids)))
    values = {p.cost_fen if p.cost_fen is not None else p.price_fen for p in products}
    if len(values) != 1:
        return tiers
    (value,) = values
    return [
        {**t, "reward": {**t["reward"], "value_fen": value}}
        if t["reward"]["kind"] == RewardKind.FREE_ITEM and not t["reward"].get("value_fen")
        else t
        for t in tiers
    ]


def create_scan_reward(
    session: Session,
    brand_id: str,
    *,
    name: str,
    starts_at: datetime,
    ends_at: datetime,
    product_ids: list[str],
    budget_fen: int,
    tiers: list[dict],
    region_codes: list[str] | None = None,
    max_rewards: int | None = None,
    per_consumer_daily: int | None = None,
    per_consumer_total: int | None = None,
) -> Campaign:
    starts_at, ends_at = naive_utc(starts_at), naive_utc(ends_at)
    _validate(session, brand_id, starts_at, ends_at, product_ids, region_codes, tiers)
    tiers = _with_free_item_values(session, product_ids, tiers)
    campaign = Campaign(
        id=new_id("cp"),
        brand_id=brand_id,
        type=CampaignType.SCAN_REWARD,
        name=name,
        status=CampaignStatus.ACTIVE,
        starts_at=starts_at,
        ends_at=ends_at,
        product_ids=list(dict.fromkeys(product_ids)),
        region_codes=sorted(set(region_codes or [])),
        budget_fen=budget_fen,
        committed_fen=0,
        spent_fen=0,
        released_fen=0,
        max_rewards=max_rewards,
        issued=0,
        per_consumer_daily=per_consumer_daily,
        per_consumer_total=per_consumer_total,
        tiers=tiers,
        seed=os.urandom(32),
        settings={},
    )
    session.add(campaign)
    session.flush()
    try:
        transfers.transfer(
            session,
            brand_budget(brand_id),
            reserve_account(campaign.id),
            budget_fen,
            key=f"campaign:{campaign.id}:reserve",
            kind=LedgerKind.CAMPAIGN_RESERVE,
            reference=campaign.id,
        )
    except InsufficientFunds:
        session.rollback()
        raise InsufficientFunds(
            "The brand's funded balance is below this budget; deposit first.",
            fields={"budget_fen": ["Exceeds the brand's available balance."]},
        ) from None
    catalog.bump(session, CAMPAIGNS)
    session.commit()
    return campaign


def create_group_buy(
    session: Session,
    brand_id: str,
    *,
    name: str,
    product_id: str,
    group_size: int,
    price_fen: int,
    duration_seconds: int,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    max_groups: int | None = None,
    per_consumer_limit: int | None = None,
    virtual_fill: bool = False,
) -> Campaign:
    """A group-buy campaign (loyalty.groupbuy runs its groups): no budget of its own, the buyers pay.
    Without `ends_at` it runs for a year; `max_groups` caps the groups opened (counted in `issued`)."""
    now = utcnow()
    starts_at = naive_utc(starts_at) if starts_at else now
    ends_at = naive_utc(ends_at) if ends_at else starts_at + timedelta(days=365)
    if ends_at <= starts_at:
        raise ValidationFailed({"ends_at": ["Must be after starts_at."]})
    product = session.get(Product, product_id)
    if product is None or product.brand_id != brand_id:
        raise ValidationFailed({"product_id": ["Not a product of this brand."]})
    campaign = Campaign(
        id=new_id("cp"),
        brand_id=brand_id,
        type=CampaignType.GROUP_BUY,
        name=name,
        status=CampaignStatus.ACTIVE,
        starts_at=starts_at,
        ends_at=ends_at,
        product_ids=[],  # not a scan campaign's: scans of this product win nothing from it
        region_codes=[],
        budget_fen=0,
        committed_fen=0,
        spent_fen=0,
        released_fen=0,
        max_rewards=max_groups,
        issued=0,
        per_consumer_daily=None,
        per_consumer_total=per_consumer_limit,
        tiers=[],
        seed=os.urandom(32),
        settings={
            "group_buy": {
                "product_id": product_id,
                "group_size": group_size,
                "price_fen": price_fen,
                "duration_seconds": duration_seconds,
                "max_groups": max_groups,
                "per_consumer_limit": per_consumer_limit,
                "virtual_fill": bool(virtual_fill),
            }
        },
    )
    session.add(campaign)
    session.commit()
    return campaign


def create_referral(
    session: Session,
    brand_id: str,
    *,
    name: str,
    starts_at: datetime,
    ends_at: datetime,
    budget_fen: int,
    trigger: str,
    reward: dict,
    second_level_percent: float | None = None,
    max_rewards: int | None = None,
) -> Campaign:
    """A referral campaign (loyalty.referral grants its rewards): its whole budget reserved from the
    brand's balance, as a scan campaign's. `reward` is a coupon (value_fen, valid_days) or a
    commission (value_fen, or percent of the first order); `second_level_percent` of it goes to
    the referrer's own referrer. Never a third level."""
    starts_at, ends_at = naive_utc(starts_at), naive_utc(ends_at)
    errors: dict[str, list[str]] = {}
    if ends_at <= starts_at:
        errors["ends_at"] = ["Must be after starts_at."]
    elif ends_at <= utcnow():
        errors["ends_at"] = ["Must be in the future."]
    fixed, percent = reward.get("value_fen"), reward.get("percent")
    if reward["kind"] == "coupon" and (not fixed or percent is not None):
        errors["reward"] = ["A coupon needs value_fen (and no percent)."]
    elif reward["kind"] == "commission" and (fixed is None) == (percent is None):
        errors["reward"] = ["A commission is either value_fen or percent, one of them."]
    elif percent is not None and trigger != "first_order":
        errors["reward"] = ["A percent of the order needs trigger first_order."]
    if errors:
        raise ValidationFailed(errors)
    config = {
        "trigger": trigger,
        "reward": {key: value for key, value in reward.items() if value is not None},
        "second_level_percent": second_level_percent or 0,
    }
    campaign = Campaign(
        id=new_id("cp"),
        brand_id=brand_id,
        type=CampaignType.REFERRAL,
        name=name,
        status=CampaignStatus.ACTIVE,
        starts_at=starts_at,
        ends_at=ends_at,
        product_ids=[],  # not a scan campaign's: scans win nothing from it
        region_codes=[],
        budget_fen=budget_fen,
        committed_fen=0,
        spent_fen=0,
        released_fen=0,
        max_rewards=max_rewards,
        issued=0,
        per_consumer_daily=None,
        per_consumer_total=None,
        tiers=[],
        seed=os.urandom(32),
        settings={"referral": config},
    )
    session.add(campaign)
    session.flush()
    try:
        transfers.transfer(
            session,
            brand_budget(brand_id),
            reserve_account(campaign.id),
            budget_fen,
            key=f"campaign:{campaign.id}:reserve",
            kind=LedgerKind.CAMPAIGN_RESERVE,
            reference=campaign.id,
        )
    except InsufficientFunds:
        session.rollback()
        raise InsufficientFunds(
            "The brand's funded balance is below this budget; deposit first.",
            fields={"budget_fen": ["Exceeds the brand's available balance."]},
        ) from None
    catalog.bump(session, CAMPAIGNS)
    session.commit()
    return campaign


def give_back_consumer_quota(session: Session, campaign_id: str, consumer_id: str, period: str) -> None:
    """take_consumer_quota undone (a group-buy seat whose order expired unpaid)."""
    session.execute(
        update(ConsumerCount)
        .where(
            ConsumerCount.campaign_id == campaign_id,
            ConsumerCount.consumer_id == consumer_id,
            ConsumerCount.period == period,
            ConsumerCount.count > 0,
        )
        .values(count=ConsumerCount.count - 1)
        .execution_options(synchronize_session=False)
    )


def own_campaign(session: Session, brand_id: str, campaign_id: str, lock: bool = False) -> Campaign:
    query = select(Campaign).where(Campaign.id == campaign_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    campaign = session.scalar(query)
    if campaign is None:
        raise NotFound("No such campaign.")
    if campaign.brand_id != brand_id:
        raise Forbidden("This campaign belongs to another brand.")
    return campaign


def list_campaigns(session: Session, brand_id: str, status: str | None, limit: int, cursor: str | None):
    """The brand's campaigns (optionally of one status), newest first, one keyset page."""
    query = select(Campaign).where(Campaign.brand_id == brand_id)
    if status:
        query = query.where(Campaign.status == status)
    rows, next_cursor = keyset_page(session, query, [Campaign.created_at, Campaign.id], limit, cursor)
    return [describe(c) for c in rows], next_cursor


def describe(campaign: Campaign) -> dict:
    now = utcnow()
    live = campaign.status == CampaignStatus.ACTIVE and campaign.starts_at <= now < campaign.ends_at
    return {
        "id": campaign.id,
        "type": campaign.type,
        "name": campaign.name,
        "status": campaign.status,
        "live": live,
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "product_ids": campaign.product_ids,
        "region_codes": campaign.region_codes,
        "budget_fen": campaign.budget_fen,
        "max_rewards": campaign.max_rewards,
        "per_consumer_daily": campaign.per_consumer_daily,
        "per_consumer_total": campaign.per_consumer_total,
        "tiers": campaign.tiers,
        "issued": campaign.issued,
        "committed_fen": campaign.committed_fen,
        "spent_fen": campaign.spent_fen,
        "released_fen": campaign.released_fen,
        "remaining_budget_fen": remaining(campaign),
        "seed_sha256": draw.commitment(campaign.seed),
        "seed": campaign.seed.hex() if campaign.status == CampaignStatus.ENDED else None,
        "created_at": campaign.created_at,
        "ended_at": campaign.ended_at,
        "group_buy": (
            {**campaign.settings.get("group_buy", {}), "groups_opened": campaign.issued}
            if campaign.type == CampaignType.GROUP_BUY
            else None
        ),
        "referral": campaign.settings.get("referral") if campaign.type == CampaignType.REFERRAL else None,
    }


def set_status(session: Session, brand_id: str, campaign_id: str, action: str) -> Campaign:
    campaign = own_campaign(session, brand_id, campaign_id, lock=True)
    if campaign.status == CampaignStatus.ENDED:
        raise Conflict("The campaign has ended.", fields={"status": [CampaignStatus.ENDED]})
    if action == "end":
        _end(session, campaign)
    else:
        _change_status(session, campaign, CampaignStatus.PAUSED if action == "pause" else CampaignStatus.ACTIVE)
    session.commit()
    return campaign


def _change_status(session: Session, campaign: Campaign, status: CampaignStatus) -> None:
    """The one place a campaign's status changes, on its row locked by the caller: active and paused
    turn into each other or into ended, which is for good. Every process's catalog drops its copies."""
    assert campaign.status != CampaignStatus.ENDED, campaign.id
    campaign.status = status
    catalog.bump(session, CAMPAIGNS)


def _end(session: Session, campaign: Campaign) -> None:
    """End now and return the unreserved budget; outstanding coupons keep their share until used or expired."""
    unused = remaining(campaign)
    campaign.ended_at = utcnow()
    _change_status(session, campaign, CampaignStatus.ENDED)
    if unused > 0:
        transfers.transfer(
            session,
            reserve_account(campaign.id),
            brand_budget(campaign.brand_id),
            unused,
            key=f"campaign:{campaign.id}:end",
            kind=LedgerKind.CAMPAIGN_RELEASE,
            reference=campaign.id,
        )
        campaign.released_fen += unused


def end_overdue(session: Session) -> int:
    """Sweep: campaigns past ends_at are ended and their unused budget returned."""
    ended = 0
    for campaign_id in list(
        session.scalars(
            select(Campaign.id).where(Campaign.status != CampaignStatus.ENDED, Campaign.ends_at <= utcnow())
        )
    ):
        campaign = session.scalar(
            select(Campaign)
            .where(Campaign.id == campaign_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if campaign.status != CampaignStatus.ENDED:
            _end(session, campaign)
            ended += 1
        session.commit()
    return ended


# --- what the brand's money is doing ----------------------------------------------------------------
def holdings(session: Session, brand_id: str) -> list[dict]:
    """What each of the brand's campaigns holds in its ledger reserve, newest first: every active or
    paused campaign, and an ended one while coupons it issued still hold their share (committed)."""
    rows = list(
        session.scalars(
            select(Campaign)
            .where(
                Campaign.brand_id == brand_id,
                or_(Campaign.status != CampaignStatus.ENDED, Campaign.committed_fen > 0),
            )
            .order_by(Campaign.created_at.desc(), Campaign.id.desc())
        )
    )
    held = balances.posted_balances(session, [reserve_account(c.id) for c in rows])
    return [
        {
            "id": c.id,
            "name": c.name,
            "type": c.type,
            "status": c.status,
            "held_fen": held[reserve_account(c.id)],
            "committed_fen": c.committed_fen,
            "remaining_budget_fen": remaining(c),
        }
        for c in rows
    ]


def brand_balance(session: Session, brand_id: str) -> dict:
    """GET /brand/balance: the ledger's figures for the brand's budget and revenue, with what its
    campaigns hold counted in reserved_fen and listed one by one."""
    campaigns = holdings(session, brand_id)
    figures = balances.brand_balance(session, brand_id)
    reserved = figures["reserved_fen"] + sum(c["held_fen"] for c in campaigns)
    return {**figures, "reserved_fen": reserved, "campaigns": campaigns}


# --- the counters, for the scan path's prizes and the coupons' uses -------------------------------
def _take_budget_statement(capped: bool):
    c, count, cost = _campaigns.c, bindparam("count"), bindparam("cost")
    conditions = [
        c.id == bindparam("campaign_id"),
        c.status == literal_column(f"'{CampaignStatus.ACTIVE}'"),
        REMAINING >= cost,
    ]
    if capped:
        conditions.append(c.issued + count <= bindparam("cap"))
    return update(_campaigns).where(*conditions).values(issued=c.issued + count, committed_fen=c.committed_fen + cost)


# Built once: building a statement costs more than running it. Parameters campaign_id, count, cost
# and (for a campaign with max_rewards, TAKE_BUDGET[True]) cap; the scan path may run it inside a
# statement of its own (loyalty/scanning/prizes.py).
TAKE_BUDGET = {False: _take_budget_statement(False), True: _take_budget_statement(True)}


def take_budget(session: Session, campaign_id: str, count: int, cost: int, cap: int | None) -> bool:
    """`count` more rewards costing `cost` in all, if the campaign is active and its count cap (`cap`,
    its max_rewards) and uncommitted budget allow them all: one conditional UPDATE; whether it took."""
    params = {"campaign_id": campaign_id, "count": count, "cost": cost, "cap": cap}
    return session.connection().execute(TAKE_BUDGET[cap is not None], params).rowcount == 1


def take_consumer_quota(session: Session, campaign_id: str, consumer_id: str, period: str, limit: int) -> bool:
    """One more reward for the consumer in `period` (a day, 'YYYY-MM-DD', or 'total'), if under `limit`."""
    insert_ignore(
        session,
        ConsumerCount.__table__,
        [{"campaign_id": campaign_id, "consumer_id": consumer_id, "period": period, "count": 0}],
        ["campaign_id", "consumer_id", "period"],
    )
    where = and_(
        ConsumerCount.campaign_id == campaign_id,
        ConsumerCount.consumer_id == consumer_id,
        ConsumerCount.period == period,
    )
    return _bump(session, ConsumerCount, where, ConsumerCount.count, limit)


def take_tier_stock(session: Session, campaign_id: str, tier: int, max_count: int) -> bool:
    """One more reward of a prize tier with a max_count, if any is left."""
    insert_ignore(
        session, TierCount.__table__, [{"campaign_id": campaign_id, "tier": tier, "issued": 0}], ["campaign_id", "tier"]
    )
    where = and_(TierCount.campaign_id == campaign_id, TierCount.tier == tier)
    return _bump(session, TierCount, where, TierCount.issued, max_count)


def _bump(session: Session, model, where, column, limit: int | None) -> bool:
    condition = [where] if limit is None else [where, column < limit]
    stmt = update(model).where(*condition).values({column.key: column + 1}).execution_options(synchronize_session=False)
    return session.execute(stmt).rowcount == 1


def spend(session: Session, campaign_id: str, amount_fen: int) -> None:
    """A used coupon's committed budget becomes spent (the store is reimbursed from the reserve)."""
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(spent_fen=Campaign.spent_fen + amount_fen, committed_fen=Campaign.committed_fen - amount_fen)
        .execution_options(synchronize_session=False)
    )


def unspend(session: Session, campaign_id: str, amount_fen: int) -> None:
    """spend() undone: the order that used the coupon was refunded, and the coupon is issued again."""
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(spent_fen=Campaign.spent_fen - amount_fen, committed_fen=Campaign.committed_fen + amount_fen)
        .execution_options(synchronize_session=False)
    )


def release_commitment(session: Session, campaign_id: str, amount_fen: int, *, key: str, reference: str) -> None:
    """An expired coupon's commitment is lifted; once the campaign has ended nothing is left to spend
    it on, and it goes back to the brand (ledger transfer `key`)."""
    campaign = session.scalar(
        select(Campaign).where(Campaign.id == campaign_id).with_for_update().execution_options(populate_existing=True)
    )
    campaign.committed_fen -= amount_fen
    if campaign.status == CampaignStatus.ENDED:
        transfers.transfer(
            session,
            reserve_account(campaign.id),
            brand_budget(campaign.brand_id),
            amount_fen,
            key=key,
            kind=LedgerKind.COUPON_EXPIRED,
            reference=reference,
        )
        campaign.released_fen += amount_fen
