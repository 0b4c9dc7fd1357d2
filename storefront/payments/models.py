"""Provider transactions (every signed notice, every confirmed refund), refunds, and the simulated
payment provider's own books (charges it took, refunds it paid)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, utcnow


class RefundStatus(StrEnum):
    """requested -> approved -> processing -> succeeded | failed (retried: failed -> processing);
    requested -> rejected. Moves only through refunds.move_refund."""

    REQUESTED = "requested"
    APPROVED = "approved"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"


OPEN_REFUND = (RefundStatus.REQUESTED, RefundStatus.APPROVED, RefundStatus.PROCESSING, RefundStatus.FAILED)


class TransactionKind(StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"


class NoticeOutcome(StrEnum):
    """What we did with a signed payment notice (provider_transactions.outcome)."""

    RECEIVED = "received"  # kept, not yet applied (a crash here is finished by the sweep)
    PAID = "paid"  # paid its order
    REFUNDING = "refunding"  # the order could no longer be paid: refunded to the payer
    AMOUNT_MISMATCH = "amount_mismatch"  # nothing moved
    UNKNOWN_ORDER = "unknown_order"  # nothing moved
    DUPLICATE = "duplicate"  # another transaction had already paid the order: refunded to the payer


class ProviderTransaction(Base):
    """A fact from the payment provider: a payment it took (a signed notice, stored before anything
    else happens) or a refund it confirmed. Reconciliation compares these with its statement."""

    __tablename__ = "provider_transactions"
    __table_args__ = (Index("ix_provider_transactions_day", "day"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # TransactionKind
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)  # the provider's id (refunds: ours)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    refund_id: Mapped[str | None] = mapped_column(String(32))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    day: Mapped[date] = mapped_column(Date)  # the provider's statement day (Asia/Shanghai)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Refund(Base):
    """Money going back to the payer of an order (RefundStatus). `system` refunds are ones we owe
    (a payment we could not honour, a failed group) and start approved. The ledger reversal is
    posted once, when the provider confirms (`parts` records what each account gave back)."""

    __tablename__ = "refunds"
    __table_args__ = (
        Index("ix_refunds_status_due_at", "status", "due_at"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    consumer_id: Mapped[str] = mapped_column(String(32), index=True)
    store_id: Mapped[str] = mapped_column(String(32), index=True)
    transaction_id: Mapped[str] = mapped_column(String(64))  # the payment it gives back
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    system: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12))
    decided_by: Mapped[str | None] = mapped_column(String(8))  # store | auto | system
    note: Mapped[str | None] = mapped_column(String(200))
    hold_transfer_id: Mapped[str | None] = mapped_column(String(32))  # the store's available money held for it
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None] = mapped_column()
    due_at: Mapped[datetime | None] = mapped_column()  # requested: auto-approval; approved/failed: next attempt
    provider_ref: Mapped[str | None] = mapped_column(String(64))
    parts: Mapped[dict] = mapped_column(JSON, default=dict)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class SimulatedCharge(Base):
    """The simulated payment provider's books: a payment it took from a consumer (its own transaction)."""

    __tablename__ = "simulated_charges"
    transaction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SimulatedRefund(Base):
    """The simulated provider's books: a refund it paid, once per idempotency key (our refund id).
    `calls` counts every request that reached it with that key."""

    __tablename__ = "simulated_refunds"
    idempotency_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    transaction_id: Mapped[str] = mapped_column(String(64), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    calls: Mapped[int] = mapped_column(Integer, default=1)
    day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
