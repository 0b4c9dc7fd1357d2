"""Commerce linked to the brand's codes: rebate policies, split rules, receipts of cases, diversion
alerts, orders and the daily rebate runs. The money itself is in storefront.ledger."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, utcnow
from storefront.ledger.models import BigId


class OrderStatus(StrEnum):
    """pending_payment -> paid (-> refund_requested) -> refunded | partially_refunded (which may be
    refunded further); pending_payment -> expired | cancelled. Moves only through orders.move_order."""

    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    REFUND_REQUESTED = "refund_requested"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class AlertKind(StrEnum):
    """Where diverted goods surfaced: a store's receipt of a case, or consumers' scans clustering."""

    RECEIPT = "receipt"
    SCAN_CLUSTER = "scan_cluster"


class AlertStatus(StrEnum):
    """open -> acknowledged -> confirmed | dismissed; open -> confirmed | dismissed (storefront.diversion.triage)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


class RebatePolicy(Base):
    """A brand's store incentives; the newest row is in force.

    per_scan_fen: T+0 commission when a consumer first scans an item bound to the store.
    per_receipt_item_fen: paid once per case when a store scans it on receipt.
    daily_tiers: the daily dynamic rebate, [{"min_items": n, "per_item_fen": f}, ...]: each day a
    store earns the rate of the highest tier its previous day's sell-through reached, per item.
    """

    __tablename__ = "rebate_policies"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    per_scan_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    per_receipt_item_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    daily_tiers: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SplitRule(Base):
    """How a paid order is shared (basis points); product-specific rules beat the brand default."""

    __tablename__ = "split_rules"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    product_id: Mapped[str | None] = mapped_column(String(32))
    store_bp: Mapped[int] = mapped_column(Integer)
    platform_bp: Mapped[int] = mapped_column(Integer)
    referrer_bp: Mapped[int] = mapped_column(Integer)
    referrer2_bp: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Receipt(Base):
    """A store's receipt of a case: one per case, whoever scans it and however often."""

    __tablename__ = "receipts"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_serial: Mapped[int] = mapped_column(BigInteger, unique=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    items: Mapped[int] = mapped_column(Integer)
    rebate_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    diversion: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class DiversionAlert(Base):
    """Evidence that goods surfaced outside their assigned region (窜货)."""

    __tablename__ = "diversion_alerts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # AlertKind
    serial: Mapped[int] = mapped_column(BigInteger)
    batch_id: Mapped[str] = mapped_column(String(32))
    store_id: Mapped[str | None] = mapped_column(String(32))
    expected_regions: Mapped[list] = mapped_column(JSON, default=list)
    seen_region: Mapped[str | None] = mapped_column(String(6))
    distributor: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default=AlertStatus.OPEN, server_default=AlertStatus.OPEN.value)
    note: Mapped[str | None] = mapped_column(String(500))
    triaged_at: Mapped[datetime | None] = mapped_column()
    evidence: Mapped[dict | None] = mapped_column(JSON)  # a scan cluster's codes, consumers, times, place
    cluster_key: Mapped[str | None] = mapped_column(String(100), unique=True)  # one alert per cluster


class Order(Base):
    """A consumer's order through a store (OrderStatus); `refunded_fen` is what succeeded refunds gave back."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_status_expires_at", "status", "expires_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    consumer_id: Mapped[str] = mapped_column(ForeignKey("consumers.id"), index=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    items: Mapped[list] = mapped_column(JSON)
    subtotal_fen: Mapped[int] = mapped_column(BigInteger)
    discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    coupon_id: Mapped[str | None] = mapped_column(String(32))
    referrer_id: Mapped[str | None] = mapped_column(String(32))
    referrer2_id: Mapped[str | None] = mapped_column(String(32))
    transaction_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    split: Mapped[dict] = mapped_column(JSON, default=dict)
    refund: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    paid_at: Mapped[datetime | None] = mapped_column()
    refunded_at: Mapped[datetime | None] = mapped_column()
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    group_id: Mapped[str | None] = mapped_column(String(32), index=True)  # a group-buy seat (loyalty.groupbuy)


class DailyRebateRun(Base):
    """A (brand, day) whose dynamic rebates have been credited."""

    __tablename__ = "daily_rebate_runs"
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    stores: Mapped[int] = mapped_column(Integer, default=0)
    credited_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    at: Mapped[datetime] = mapped_column(default=utcnow)
