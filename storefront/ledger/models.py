"""Ledger accounts, transfers and entries; payouts; settlements; the simulated payout provider's own records.

Entries are append-only (a database trigger refuses UPDATE, and on PostgreSQL DELETE too) and
chained per account by SHA-256; an account row carries the running totals and the chain head,
updated under a row lock in the same transaction as the entries it summarises.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
BigId = BigInteger().with_variant(Integer, "sqlite")

GENESIS_HASH = "0" * 64


class LedgerKind(StrEnum):
    """What a transfer was for (ledger_transfers.kind): every kind any package writes, named here
    beside the column, so the statement's labels (ledger.pages) can cover each one."""

    # the ledger's own
    DEPOSIT = "deposit"
    SETTLEMENT = "settlement"
    PAYOUT_REQUEST = "payout_request"
    PAYOUT_PAID = "payout_paid"
    PAYOUT_FAILED = "payout_failed"
    # commerce (storefront): orders and store incentives
    ORDER_SPLIT = "order_split"
    ORDER_REFUND = "order_refund"
    GROUP_ESCROW = "group_escrow"
    REFUND_HOLD = "refund_hold"
    PAYMENT_UNAPPLIED = "payment_unapplied"
    RECEIPT_REBATE = "receipt_rebate"
    SCAN_COMMISSION = "scan_commission"
    DAILY_REBATE = "daily_rebate"
    # loyalty: campaign budgets and coupons
    CAMPAIGN_RESERVE = "campaign_reserve"
    CAMPAIGN_RELEASE = "campaign_release"
    COUPON_REIMBURSEMENT = "coupon_reimbursement"
    COUPON_EXPIRED = "coupon_expired"
    REFERRAL_COMMISSION = "referral_commission"


class TransferStatus(StrEnum):
    """posted (entries written) | pending (reserved, no entries yet); a pending transfer then
    becomes posted, voided or expired."""

    POSTED = "posted"
    PENDING = "pending"
    VOIDED = "voided"
    EXPIRED = "expired"


class PayoutStatus(StrEnum):
    REQUESTED = "requested"
    PROCESSING = "processing"
    PAID = "paid"
    FAILED = "failed"


class SettlementStatus(StrEnum):
    PENDING = "pending"
    SETTLED = "settled"
    REVERSED = "reversed"


class PaymentStatus(StrEnum):
    """The simulated provider's answer for one idempotency key (final either way)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


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
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # posted: the sum of entries
    pending_debits_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # reserved by pending transfers
    pending_credits_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # promised by pending transfers
    entry_seq: Mapped[int] = mapped_column(BigInteger, default=0)  # seq of the newest entry
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

    status (TransferStatus): posted (entries written) | pending (reserved, no entries yet) and then,
    on the pending transfer itself, posted | voided | expired. A post or void is its own transfer
    row with `pending_id` set and its own idempotency key.
    """

    __tablename__ = "ledger_transfers"
    __table_args__ = (Index("ix_ledger_transfers_status_expires_at", "status", "expires_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # LedgerKind
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
    """requested -> processing -> paid | failed (PayoutStatus). The money sits in its owner's
    in_transit account from the request until the provider answers. The owner is a store, or a
    consumer withdrawing referral earnings: exactly one of store_id and consumer_id is set."""

    __tablename__ = "payouts"
    __table_args__ = (
        Index("ix_payouts_status_created_at", "status", "created_at"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("(store_id IS NULL) <> (consumer_id IS NULL)", name="one_owner"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    store_id: Mapped[str | None] = mapped_column(ForeignKey("stores.id"), index=True)
    consumer_id: Mapped[str | None] = mapped_column(ForeignKey("consumers.id"), index=True)
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
    status: Mapped[str] = mapped_column(String(12))  # PaymentStatus
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Settlement(Base):
    """One credit to a store's (or a consumer's: referral earnings) pending balance and when it
    becomes available: pending -> settled | reversed. Exactly one of store_id and consumer_id is set."""

    __tablename__ = "settlements"
    __table_args__ = (
        Index("ix_settlements_status_due_at", "status", "due_at"),
        CheckConstraint("(store_id IS NULL) <> (consumer_id IS NULL)", name="one_owner"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_key: Mapped[str] = mapped_column(String(255), unique=True)  # the crediting transfer's key
    store_id: Mapped[str | None] = mapped_column(ForeignKey("stores.id"), index=True)
    consumer_id: Mapped[str | None] = mapped_column(ForeignKey("consumers.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(10), default=SettlementStatus.PENDING)
    due_at: Mapped[datetime] = mapped_column()
    settled_at: Mapped[datetime | None] = mapped_column()
    reversed_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # refunded from pending before it settled
    holds: Mapped[int] = mapped_column(Integer, default=0)  # open refunds keeping it from settling
