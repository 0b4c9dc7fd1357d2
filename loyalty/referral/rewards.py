"""Referral rewards: what a referral campaign gives for a referee's first scan or first paid order.

For every live referral campaign of the brand with that trigger, level 1 goes to the referee's
referrer and, when the campaign pays a second level, level 2 (a share of level 1) to the
referrer's own referrer. There is no level 3: the binding keeps only those two.

Each (campaign, referee, level) is decided once, by the unique constraint on referral_rewards:
the row is inserted first (ON CONFLICT DO NOTHING) and only the transaction that inserted it goes
on. Then, in the same transaction:
- a blacklisted referrer or referee: the row says `blocked`, nothing is given;
- the campaign's budget is taken by its one conditional UPDATE (loyalty.campaigns.take_budget),
  so however many jobs run at once the budget is never overspent; refused: `unfunded`;
- a coupon: a brand coupon into the beneficiary's wallet (its value committed in the campaign,
  spent when a store redeems it, like a scan prize's);
- a commission: campaign reserve -> the beneficiary's pending balance, settling into available
  after SETTLEMENT_DELAY_SECONDS (storefront.ledger.settlement.credit_consumer); a refund of the
  order reverses it (`reversal_legs`, heard through storefront's order_released signal).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from codes.models import Batch, Code
from db import dialect_insert, new_id, utcnow
from loyalty import campaigns
from loyalty.coupons import coupon_row
from loyalty.models import Blacklist, Campaign, CampaignStatus, CampaignType, Coupon, RewardKind
from loyalty.referral.models import Binding, ReferralRewardKind, Reward, RewardStatus, Trigger
from pagination import keyset_page
from storefront.ledger import settlement
from storefront.ledger.models import LedgerKind
from storefront.models import Order

PAID_ONCE = ("paid", "refund_requested", "partially_refunded", "refunded")  # orders that were paid
DEFAULT_VALID_DAYS = 30


def _campaigns_for(session: Session, brand_id: str, trigger: Trigger, at: datetime) -> list[Campaign]:
    """The brand's referral campaigns with this trigger that were running at `at` and still give."""
    rows = session.scalars(
        select(Campaign)
        .where(
            Campaign.brand_id == brand_id,
            Campaign.type == CampaignType.REFERRAL,
            Campaign.status == CampaignStatus.ACTIVE,
            Campaign.starts_at <= at,
            Campaign.ends_at > at,
        )
        .order_by(Campaign.created_at, Campaign.id)
    )
    return [c for c in rows if c.settings["referral"]["trigger"] == trigger]


def first_scan_at(session: Session, consumer_id: str, brand_id: str) -> datetime | None:
    """When the consumer first claimed a code of the brand's items (None: never)."""
    return session.scalar(
        select(func.min(Code.first_scan_at))
        .join(Batch, Batch.id == Code.batch_id)
        .where(Code.claimed_by == consumer_id, Batch.brand_id == brand_id)
    )


def first_paid_order(session: Session, consumer_id: str, brand_id: str) -> Order | None:
    return session.scalar(
        select(Order)
        .where(Order.consumer_id == consumer_id, Order.brand_id == brand_id, Order.paid_at.is_not(None))
        .order_by(Order.paid_at, Order.id)
        .limit(1)
    )


def reward_first_scan(session: Session, referee_id: str, brand_id: str, *, settle_delay_seconds: int) -> int:
    """The referee's first claimed scan of the brand's items: every first-scan campaign's rewards
    (each once). Returns how many rewards this call granted. Commits."""
    binding = session.get(Binding, referee_id)
    at = first_scan_at(session, referee_id, brand_id) if binding else None
    if at is None:
        return 0
    granted = 0
    for campaign in _campaigns_for(session, brand_id, Trigger.FIRST_SCAN, at):
        granted += _reward(session, campaign, binding, Trigger.FIRST_SCAN, None, settle_delay_seconds)
    session.commit()
    return granted


def reward_order(session: Session, order_id: str, *, settle_delay_seconds: int) -> int:
    """A paid order of a referee: if it is the referee's first paid order of the brand's products,
    every first-order campaign's rewards (each once). Commits."""
    order = session.get(Order, order_id)
    if order is None or order.paid_at is None:
        return 0
    binding = session.get(Binding, order.consumer_id)
    first = first_paid_order(session, order.consumer_id, order.brand_id) if binding else None
    if first is None or first.id != order.id:
        return 0
    granted = 0
    for campaign in _campaigns_for(session, order.brand_id, Trigger.FIRST_ORDER, order.paid_at):
        granted += _reward(session, campaign, binding, Trigger.FIRST_ORDER, order, settle_delay_seconds)
    session.commit()
    return granted


def _blacklisted(session: Session, brand_id: str, *consumer_ids: str) -> bool:
    return (
        session.scalar(
            select(Blacklist.id).where(Blacklist.brand_id == brand_id, Blacklist.consumer_id.in_(consumer_ids)).limit(1)
        )
        is not None
    )


def level_amounts(config: dict, order_amount_fen: int | None) -> list[int]:
    """[level 1, level 2] in fen (pure): a fixed value or a percent of the order (floored), and the
    second level as `second_level_percent` of the first (floored; 0: no second level)."""
    reward = config["reward"]
    if reward.get("percent") is not None:
        first = (order_amount_fen or 0) * round(reward["percent"] * 100) // 10_000
    else:
        first = reward["value_fen"]
    second = first * round((config.get("second_level_percent") or 0) * 100) // 10_000
    return [first, second]


def _reward(
    session: Session, campaign: Campaign, binding: Binding, trigger: Trigger, order: Order | None, delay: int
) -> int:
    config = campaign.settings["referral"]
    amounts = level_amounts(config, order.amount_fen if order else None)
    beneficiaries = [binding.referrer_id, binding.referrer2_id]
    granted = 0
    for level, (beneficiary, amount) in enumerate(zip(beneficiaries, amounts), start=1):
        if beneficiary is None or amount <= 0:
            continue
        granted += _decide(session, campaign, binding.referee_id, level, beneficiary, amount, trigger, order, delay)
    return granted


def _decide(session, campaign, referee_id, level, beneficiary, amount, trigger, order, delay) -> int:
    reward_id = new_id("rr")
    kind = campaign.settings["referral"]["reward"]["kind"]
    inserted = session.execute(
        dialect_insert(session, Reward.__table__)
        .values(
            id=reward_id,
            campaign_id=campaign.id,
            brand_id=campaign.brand_id,
            referee_id=referee_id,
            beneficiary_id=beneficiary,
            level=level,
            trigger=trigger,
            kind=kind,
            amount_fen=amount,
            reversed_fen=0,
            status=RewardStatus.UNFUNDED,
            order_id=order.id if order else None,
            coupon_id=None,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["campaign_id", "referee_id", "level"])
        .returning(Reward.id)
    ).first()
    if inserted is None:
        return 0  # decided before (a retried or concurrent job)
    if _blacklisted(session, campaign.brand_id, beneficiary, referee_id):
        _set(session, reward_id, status=RewardStatus.BLOCKED)
        return 0
    if not campaigns.take_budget(session, campaign.id, 1, amount, campaign.max_rewards):
        return 0  # stays unfunded
    values = {"status": RewardStatus.GRANTED}
    if kind == ReferralRewardKind.COUPON:
        valid_days = campaign.settings["referral"]["reward"].get("valid_days") or DEFAULT_VALID_DAYS
        row = coupon_row(
            consumer_id=beneficiary,
            campaign=campaign,
            serial=None,
            tier=None,
            kind=RewardKind.BRAND_COUPON,
            value_fen=amount,
            budget_fen=amount,
            min_spend_fen=0,
            valid_days=valid_days,
            store_id=None,
            product_id=None,
        )
        session.execute(Coupon.__table__.insert().values(**row))
        values["coupon_id"] = row["id"]
    else:
        campaigns.spend(session, campaign.id, amount)
        settlement.credit_consumer(
            session,
            beneficiary,
            campaigns.reserve_account(campaign.id),
            amount,
            key=commission_key(reward_id),
            kind=LedgerKind.REFERRAL_COMMISSION,
            delay_seconds=delay,
            reference=order.id if order else reward_id,
            metadata={"campaign_id": campaign.id, "referee_id": referee_id, "level": level},
        )
    _set(session, reward_id, **values)
    return 1


def commission_key(reward_id: str) -> str:
    return f"referral:{reward_id}:commission"


def _set(session: Session, reward_id: str, **values) -> None:
    session.execute(
        update(Reward).where(Reward.id == reward_id).values(**values).execution_options(synchronize_session=False)
    )


# --- refunds -----------------------------------------------------------------------------------


def reverse_for_refund(
    session: Session,
    *,
    order,
    refunded: bool,
    planned: dict[str, int],
    amount_fen: int = 0,
    refunded_before_fen: int = 0,
    full: bool = True,
) -> list:
    """storefront's order_released receiver: a refund of `amount_fen` of a first order takes back the
    same share of each commission it earned (a full refund, all of what is left), from the
    beneficiary's pending balance, or from its available balance with the brand covering what the
    beneficiary has already withdrawn. The money goes back to the campaign's reserve (to the
    brand's budget once the campaign has ended). Legs for the refund's one transfer."""
    if not refunded or not order.referrer_id or not order.amount_fen:
        return []
    rewards = list(
        session.scalars(
            select(Reward)
            .where(
                Reward.order_id == order.id,
                Reward.kind == ReferralRewardKind.COMMISSION,
                Reward.status == RewardStatus.GRANTED,
            )
            .order_by(Reward.level, Reward.id)
            .with_for_update()
        )
    )
    legs: list = []
    cover = [("brand", order.brand_id, "revenue"), ("brand", order.brand_id, "budget")]
    for reward in rewards:
        refunded_total = refunded_before_fen + amount_fen
        target = reward.amount_fen if full else reward.amount_fen * refunded_total // order.amount_fen
        take = min(target, reward.amount_fen) - reward.reversed_fen
        if take <= 0:
            continue
        campaign = session.scalar(
            select(Campaign)
            .where(Campaign.id == reward.campaign_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        ended = campaign.status == CampaignStatus.ENDED
        to = campaigns.brand_budget(campaign.brand_id) if ended else campaigns.reserve_account(campaign.id)
        more, _ = settlement.reversal_legs(session, commission_key(reward.id), take, to, cover, planned)
        legs += more
        campaign.spent_fen -= take
        if ended:
            campaign.released_fen += take
        reward.reversed_fen += take
        if reward.reversed_fen == reward.amount_fen:
            reward.status = RewardStatus.REVERSED
    session.flush()
    return legs


# --- what consumers and brands see ---------------------------------------------------------------


def earned_fen(session: Session, consumer_id: str) -> int:
    """Commissions granted to the consumer, less what refunds took back."""
    return int(
        session.scalar(
            select(func.coalesce(func.sum(Reward.amount_fen - Reward.reversed_fen), 0)).where(
                Reward.beneficiary_id == consumer_id,
                Reward.kind == ReferralRewardKind.COMMISSION,
                Reward.status.in_((RewardStatus.GRANTED, RewardStatus.REVERSED)),
            )
        )
    )


def describe(reward: Reward) -> dict:
    return {
        "id": reward.id,
        "campaign_id": reward.campaign_id,
        "referrer_id": reward.beneficiary_id,
        "referee_id": reward.referee_id,
        "level": reward.level,
        "trigger": reward.trigger,
        "kind": reward.kind,
        "amount_fen": reward.amount_fen,
        "reversed_fen": reward.reversed_fen,
        "status": reward.status,
        "order_id": reward.order_id,
        "coupon_id": reward.coupon_id,
        "created_at": reward.created_at,
    }


def brand_rewards(session: Session, brand_id: str, campaign_id: str | None, limit: int, cursor: str | None):
    """GET /brand/referrals: every reward the brand's referral campaigns decided, newest first."""
    query = select(Reward).where(Reward.brand_id == brand_id)
    if campaign_id:
        query = query.where(Reward.campaign_id == campaign_id)
    rows, next_cursor = keyset_page(session, query, [Reward.created_at, Reward.id], limit, cursor)
    return [describe(r) for r in rows], next_cursor


# --- the sweep's questions -----------------------------------------------------------------------


SWEEP_DAYS = 30  # how far back the sweep looks for a trigger whose job never ran


def _windows(session: Session, trigger: Trigger) -> dict[str, list[tuple[datetime, datetime]]]:
    """{brand: [(starts_at, ends_at)]} of the active referral campaigns with this trigger."""
    found: dict[str, list] = {}
    for c in session.scalars(
        select(Campaign).where(Campaign.type == CampaignType.REFERRAL, Campaign.status == CampaignStatus.ACTIVE)
    ):
        if c.settings["referral"]["trigger"] == trigger:
            found.setdefault(c.brand_id, []).append((c.starts_at, c.ends_at))
    return found


def _covered(windows, at) -> bool:
    return any(start <= at < end for start, end in windows)


def missed_first_scans(session: Session, limit: int = 500) -> list[tuple[str, str]]:
    """(referee, brand) pairs whose first claimed scan (in the last SWEEP_DAYS, while a first-scan
    campaign of the brand ran) has no level-1 reward row yet."""
    windows = _windows(session, Trigger.FIRST_SCAN)
    if not windows:
        return []
    since = utcnow() - timedelta(days=SWEEP_DAYS)
    firsts = session.execute(
        select(Binding.referee_id, Batch.brand_id, func.min(Code.first_scan_at))
        .join(Code, Code.claimed_by == Binding.referee_id)
        .join(Batch, Batch.id == Code.batch_id)
        .where(Batch.brand_id.in_(list(windows)), Binding.bound_at > since)
        .group_by(Binding.referee_id, Batch.brand_id)
    ).all()
    due = [(r, b) for r, b, at in firsts if at is not None and at > since and _covered(windows[b], at)]
    done = set(
        session.execute(
            select(Reward.referee_id, Reward.brand_id).where(
                Reward.trigger == Trigger.FIRST_SCAN,
                Reward.level == 1,
                Reward.referee_id.in_([r for r, _ in due] or [""]),
            )
        ).all()
    )
    return [pair for pair in due if pair not in done][:limit]


def missed_orders(session: Session, limit: int = 500) -> list[str]:
    """Orders with a referrer, paid in the last SWEEP_DAYS while a first-order campaign of their brand
    ran, that are their referee's first paid order of the brand and have no level-1 reward row."""
    windows = _windows(session, Trigger.FIRST_ORDER)
    if not windows:
        return []
    decided = select(Reward.id).where(Reward.order_id == Order.id, Reward.level == 1)
    rows = session.execute(
        select(Order.id, Order.consumer_id, Order.brand_id, Order.paid_at)
        .where(
            Order.referrer_id.is_not(None),
            Order.paid_at > utcnow() - timedelta(days=SWEEP_DAYS),
            Order.brand_id.in_(list(windows)),
            ~decided.exists(),
        )
        .order_by(Order.paid_at)
        .limit(limit * 4)
    ).all()
    due = []
    for order_id, consumer_id, brand_id, paid_at in rows:
        if _covered(windows[brand_id], paid_at) and first_paid_order(session, consumer_id, brand_id).id == order_id:
            due.append(order_id)
    return due[:limit]
