"""Insight's own tables: rollups kept by the jobs in insight/rollups.py, their watermarks, and each
brand's thresholds for scan-cluster diversion (insight/diversion.py). Nothing else writes them.

A rollup cell is one brand's figures for one Shanghai day (China keeps UTC+8 all year, so a day is
`date(at + 8 hours)`) and one region × product × store; '' stands for "none" in a dimension (a scan
without a region, a coupon without an item). See docs/insight.md for what each figure counts.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, utcnow

DIMENSIONS = ("region_code", "product_id", "store_id")


class ScanCell(Base):
    """Scans and first scans, added to from the scans table's id watermark (never rewritten)."""

    __tablename__ = "insight_scan_cells"
    brand_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    store_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    scans: Mapped[int] = mapped_column(BigInteger, default=0)
    first_scans: Mapped[int] = mapped_column(BigInteger, default=0)


class ConsumerDay(Base):
    """A consumer's scans of one brand on one day in one cell: exact unique and repeat consumers are
    counted from these rows (distinct consumer_id), never estimated."""

    __tablename__ = "insight_consumer_days"
    brand_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    consumer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    store_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_scans: Mapped[int] = mapped_column(BigInteger, default=0)


BLOCK_DAYS = 63  # days per ConsumerMarks row: bits 0..62 of a bigint, never the sign bit
# Each consumer's days are kept twice, in blocks starting at day numbers 63k (phase 0) and 63k + 31
# (phase 1): any window of up to 32 days lies inside one block of one phase.
PHASE_SHIFTS = (0, 31)


class ConsumerMarks(Base):
    """One consumer's days with a brand, as bits: for the block of BLOCK_DAYS days numbered `block`
    (day number = days since 1970-01-01, Shanghai; block = (number - shift) // BLOCK_DAYS with the
    phase's shift), bit i of `seen` is set when the consumer scanned on day
    block * BLOCK_DAYS + shift + i, and of `firsts` when one of those
    scans was a first scan. Only ever OR-ed into by the rollup job, so a window's unique consumers are
    the rows whose `seen` meets the window's mask, and its repeat consumers those with two or more
    `firsts` bits in it: one row per consumer and block instead of one per consumer, day and cell."""

    __tablename__ = "insight_consumer_marks"
    brand_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    phase: Mapped[int] = mapped_column(Integer, primary_key=True)
    block: Mapped[int] = mapped_column(Integer, primary_key=True)
    consumer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seen: Mapped[int] = mapped_column(BigInteger, default=0)
    firsts: Mapped[int] = mapped_column(BigInteger, default=0)


class BrandDay(Base):
    """A brand's distinct consumers of one Shanghai day (all regions, products and stores): one added
    for each bit the rollup job newly sets in ConsumerMarks.seen, so the unfiltered day series reads
    one row per day."""

    __tablename__ = "insight_brand_days"
    brand_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    consumers: Mapped[int] = mapped_column(BigInteger, default=0)


class MoneyCell(Base):
    """Coupons, orders and receipts of one brand's day and cell. Those rows change state (a coupon is
    redeemed, an order refunded), so a day they touched is recomputed whole by the rollup job."""

    __tablename__ = "insight_money_cells"
    brand_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    store_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    coupons_issued: Mapped[int] = mapped_column(BigInteger, default=0)
    coupons_redeemed: Mapped[int] = mapped_column(BigInteger, default=0)
    reward_cost_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    orders: Mapped[int] = mapped_column(BigInteger, default=0)
    order_revenue_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    receipts: Mapped[int] = mapped_column(BigInteger, default=0)
    received_items: Mapped[int] = mapped_column(BigInteger, default=0)


class Watermark(Base):
    """How far a rollup has read. `position` is done; `pending` (with `pending_at`) is the newest id
    seen at that time, taken up once every transaction that could hold a smaller id has committed."""

    __tablename__ = "insight_watermarks"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    pending: Mapped[int | None] = mapped_column(BigInteger)
    pending_at: Mapped[datetime | None] = mapped_column()
    ran_at: Mapped[datetime | None] = mapped_column()


class ClusterRule(Base):
    """A brand's thresholds for scan-cluster diversion alerts (defaults in insight/diversion.py)."""

    __tablename__ = "insight_cluster_rules"
    brand_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    radius_m: Mapped[int] = mapped_column(Integer)
    window_minutes: Mapped[int] = mapped_column(Integer)
    min_consumers: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
