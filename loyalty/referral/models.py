"""Referral rows: each consumer's code, who bound to whom, the referrers' daily binding counts, and
every reward a referral campaign decided (granted, or refused for budget or blacklist)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, utcnow


class Trigger(StrEnum):
    FIRST_SCAN = "first_scan"  # the referee's first claimed scan of the brand's items
    FIRST_ORDER = "first_order"  # the referee's first paid order of the brand's products


class ReferralRewardKind(StrEnum):
    COUPON = "coupon"  # a brand coupon into the referrer's wallet
    COMMISSION = "commission"  # money: campaign reserve -> the referrer's pending balance


class RewardStatus(StrEnum):
    """granted -> reversed (its order refunded in full; partly: reversed_fen). unfunded (the budget
    was spent) and blocked (a blacklisted referrer or referee) are final: nothing was given."""

    GRANTED = "granted"
    REVERSED = "reversed"
    UNFUNDED = "unfunded"
    BLOCKED = "blocked"


class ReferralCode(Base):
    """A consumer's referral code, made on first use: short, random, not derived from its id."""

    __tablename__ = "referral_codes"
    consumer_id: Mapped[str] = mapped_column(ForeignKey("consumers.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Binding(Base):
    """A referee bound to its referrer, once (the primary key); referrer2_id is the referrer's own
    referrer at binding time (the second level), never further up."""

    __tablename__ = "referral_bindings"
    referee_id: Mapped[str] = mapped_column(ForeignKey("consumers.id"), primary_key=True)
    referrer_id: Mapped[str] = mapped_column(ForeignKey("consumers.id"), index=True)
    referrer2_id: Mapped[str | None] = mapped_column(String(32), index=True)
    bound_at: Mapped[datetime] = mapped_column(default=utcnow)


class BindingCount(Base):
    """New bindings a referrer got on one Shanghai day (REFERRAL_DAILY_BINDINGS caps it)."""

    __tablename__ = "referral_binding_counts"
    referrer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class Reward(Base):
    """One reward of a referral campaign for one referee at one level (1: the referrer, 2: the
    referrer's referrer): at most one per (campaign, referee, level), by the unique constraint."""

    __tablename__ = "referral_rewards"
    __table_args__ = (
        UniqueConstraint("campaign_id", "referee_id", "level"),
        Index("ix_referral_rewards_brand_id_created_at", "brand_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"))
    referee_id: Mapped[str] = mapped_column(String(32), index=True)
    beneficiary_id: Mapped[str] = mapped_column(String(32), index=True)
    level: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(12))  # Trigger
    kind: Mapped[str] = mapped_column(String(12))  # ReferralRewardKind
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    reversed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(10))  # RewardStatus
    order_id: Mapped[str | None] = mapped_column(String(32), index=True)
    coupon_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
