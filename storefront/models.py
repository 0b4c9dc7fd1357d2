"""Ledger accounts, transfers and entries; payouts; the simulated payout provider's own records.

Entries are append-only (a database trigger refuses UPDATE, and on PostgreSQL DELETE too) and
chained per account by SHA-256; an account row carries the running totals and the chain head,
updated under a row lock in the same transaction as the entries it summarises.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (JSON, BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
BigId = BigInteger().with_variant(Integer, "sqlite")

GENESIS_HASH = "0" * 64


class Account(Base):
    """One account per (owner_type, owner_id, purpose); `name` is that triple as one unique string."""
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint("NOT bounded OR balance_fen - pending_debits_fen >= 0", name="bounded_balance"),
        CheckConstraint("pending_debits_fen >= 0 AND pending_credits_fen >= 0", name="pending_not_negative"),
        Index("ix_ledger_accounts_owner_type_owner_id", "owner_type", "owner_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    owner_type: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    bounded: Mapped[bool] = mapped_column(Boolean)
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)          # posted: the sum of entries
    pending_debits_fen: Mapped[int] = mapped_column(BigInteger, default=0)   # reserved by pending transfers
    pending_credits_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # promised by pending transfers
    entry_seq: Mapped[int] = mapped_column(BigInteger, default=0)            # seq of the newest entry
    head_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)  # hash of the newest entry
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def ref(self) -> tuple[str, str | None, str]:
        return (self.owner_type, self.owner_id, self.purpose)

    @property
    def spendable_fen(self) -> int:
        return self.balance_fen - self.pending_debits_fen


class Transfer(Base):
    """A balanced movement (its entries sum to zero), a two-phase reservation, or a post/void of one.

    status: posted (entries written) | pending (reserved, no entries yet) and then, on the pending
    transfer itself, posted | voided | expired. A post or void is its own transfer row with
    `pending_id` set and its own idempotency key.
    """
    __tablename__ = "ledger_transfers"
    __table_args__ = (Index("ix_ledger_transfers_status_expires_at", "status", "expires_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(255), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    debit_account_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_accounts.id"))
    credit_account_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_accounts.id"))
    status: Mapped[str] = mapped_column(String(10))
    pending: Mapped[bool] = mapped_column(Boolean, default=False)
    pending_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_transfers.id"), index=True)
    posted_fen: Mapped[int | None] = mapped_column(BigInteger)
    expires_at: Mapped[datetime | None] = mapped_column()
    meta: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class Entry(Base):
    """One line on one account: signed amount (credit +, debit -), running balance, hash chain link."""
    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("account_id", "seq"),
        Index("ix_ledger_entries_account_id_id", "account_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transfer_id: Mapped[str] = mapped_column(ForeignKey("ledger_transfers.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    balance_after_fen: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Payout(Base):
    """requested -> processing -> paid | failed. The money sits in the store's in_transit account
    from the request until the provider answers."""
    __tablename__ = "payouts"
    __table_args__ = (Index("ix_payouts_status_created_at", "status", "created_at"),
                      CheckConstraint("amount_fen > 0", name="amount_positive"))
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))
    request_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None] = mapped_column()
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class SimulatedPayment(Base):
    """What the simulated payout provider did, keyed by the caller's idempotency key (the payout id).

    This table stands for the provider's own books: it is written in the provider's own transaction,
    never in ours, exactly as a real provider's record exists whatever happens to our process.
    """
    __tablename__ = "simulated_payments"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    payee: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))     # succeeded | failed
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- BC-linked commerce: rebates, receipts, orders, settlement ---------------------------------

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
    kind: Mapped[str] = mapped_column(String(12))              # receipt | scan
    serial: Mapped[int] = mapped_column(BigInteger)
    batch_id: Mapped[str] = mapped_column(String(32))
    store_id: Mapped[str | None] = mapped_column(String(32))
    expected_regions: Mapped[list] = mapped_column(JSON, default=list)
    seen_region: Mapped[str | None] = mapped_column(String(6))
    distributor: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Order(Base):
    """pending_payment -> paid -> refunded, or pending_payment -> expired."""
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_status_expires_at", "status", "expires_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    consumer_id: Mapped[str] = mapped_column(ForeignKey("consumers.id"), index=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
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


class Settlement(Base):
    """One credit to a store's pending balance and when it becomes available: pending -> settled | reversed."""
    __tablename__ = "settlements"
    __table_args__ = (Index("ix_settlements_status_due_at", "status", "due_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_key: Mapped[str] = mapped_column(String(255), unique=True)   # the crediting transfer's key
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    due_at: Mapped[datetime] = mapped_column()
    settled_at: Mapped[datetime | None] = mapped_column()


class DailyRebateRun(Base):
    """A (brand, day) whose dynamic rebates have been credited."""
    __tablename__ = "daily_rebate_runs"
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    stores: Mapped[int] = mapped_column(Integer, default=0)
    credited_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    at: Mapped[datetime] = mapped_column(default=utcnow)
