from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, sparse_index, utcnow


class CampaignType(StrEnum):
    SCAN_REWARD = "scan_reward"
    GROUP_BUY = "group_buy"
    REFERRAL = "referral"


class CampaignStatus(StrEnum):
    """active <-> paused; either -> ended (for good). Changed by campaigns.set_status and the end sweep."""

    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


class RewardKind(StrEnum):
    """What a prize tier gives, and so what kind of coupon it issues."""

    BRAND_COUPON = "brand_coupon"
    STORE_COUPON = "store_coupon"
    POINTS = "points"
    FREE_ITEM = "free_item"


class CouponStatus(StrEnum):
    """issued -> redeemed (till) | held (an order) | expired (sweep); held -> redeemed (paid) | issued (released);
    redeemed -> issued (the order refunded). Changed only by coupons.transition."""

    ISSUED = "issued"
    REDEEMED = "redeemed"
    EXPIRED = "expired"
    REVOKED = "revoked"
    HELD = "held"


class Campaign(Base):
    """A brand's campaign. Counters are updated by conditional UPDATEs, never read-then-write."""

    __tablename__ = "campaigns"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    type: Mapped[str] = mapped_column(String(16))  # CampaignType
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default=CampaignStatus.ACTIVE)
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    product_ids: Mapped[list] = mapped_column(JSON, default=list)
    region_codes: Mapped[list] = mapped_column(JSON, default=list)
    budget_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    committed_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # outstanding coupons' liability
    spent_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # reimbursed to stores
    released_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # returned to the brand budget
    max_rewards: Mapped[int | None] = mapped_column(Integer)
    issued: Mapped[int] = mapped_column(Integer, default=0)
    per_consumer_daily: Mapped[int | None] = mapped_column(Integer)
    per_consumer_total: Mapped[int | None] = mapped_column(Integer)
    tiers: Mapped[list] = mapped_column(JSON, default=list)
    seed: Mapped[bytes] = mapped_column(LargeBinary)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()


class TierCount(Base):
    """Issued count per prize tier, for tiers with a max_count (a sold-out tier means no prize)."""

    __tablename__ = "campaign_tier_counts"
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    tier: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    issued: Mapped[int] = mapped_column(Integer, default=0)


class ConsumerCount(Base):
    """Rewards a consumer got from a campaign, per day ('YYYY-MM-DD') and in total ('total')."""

    __tablename__ = "campaign_consumer_counts"
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    consumer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class Coupon(Base):
    __tablename__ = "coupons"
    __table_args__ = (
        UniqueConstraint("campaign_id", "serial", "kind"),  # one reward per code per campaign
        sparse_index("coupons", "store_id"),
        sparse_index("coupons", "redeemed_store_id"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # what the till scans
    consumer_id: Mapped[str] = mapped_column(ForeignKey("consumers.id"), index=True)
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    campaign_id: Mapped[str | None] = mapped_column(ForeignKey("campaigns.id"))  # the unique index below leads with it
    serial: Mapped[int | None] = mapped_column(BigInteger, index=True)
    tier: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # RewardKind
    value_fen: Mapped[int] = mapped_column(BigInteger)
    budget_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # what the brand's budget pays on redemption
    min_spend_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    store_id: Mapped[str | None] = mapped_column(String(32))  # only redeemable there (store coupons)
    product_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(10), default=CouponStatus.ISSUED)
    order_id: Mapped[str | None] = mapped_column(String(32))  # the order holding or using it
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    redeemed_at: Mapped[datetime | None] = mapped_column()
    redeemed_store_id: Mapped[str | None] = mapped_column(String(32))
    reimbursed_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class Blacklist(Base):
    __tablename__ = "blacklist"
    __table_args__ = (UniqueConstraint("brand_id", "consumer_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    consumer_id: Mapped[str] = mapped_column(ForeignKey("consumers.id"))
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
