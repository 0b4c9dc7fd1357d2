"""Groups and their members. A group's seats are counted on its row and bounded by a CHECK, so
however many joins race, the database refuses the seat past `size`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, utcnow


class GroupStatus(StrEnum):
    """forming -> succeeded | failed (groups.py; each decided once by a conditional UPDATE)."""

    FORMING = "forming"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Group(Base):
    __tablename__ = "buy_groups"
    __table_args__ = (
        Index("ix_buy_groups_status_expires_at", "status", "expires_at"),
        CheckConstraint("seats_taken >= 0 AND seats_taken <= size", name="seats_within_size"),
        CheckConstraint("members_paid >= 0 AND members_paid <= size", name="paid_within_size"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    brand_id: Mapped[str] = mapped_column(String(32))
    product_id: Mapped[str] = mapped_column(String(32))
    store_id: Mapped[str] = mapped_column(String(32))  # the opener's store, where joiners order by default
    opener_id: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    price_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default=GroupStatus.FORMING)
    seats_taken: Mapped[int] = mapped_column(Integer, default=0)  # members with a live order, paid or not
    members_paid: Mapped[int] = mapped_column(Integer, default=0)
    virtual_members: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    split_at: Mapped[datetime | None] = mapped_column()  # every paid member's order split (succeeded groups)


class GroupMember(Base):
    """A consumer's seat in a group, through its order; at most one per consumer and group (the key).
    The row goes when its order expires unpaid (the seat is given back)."""

    __tablename__ = "buy_group_members"
    group_id: Mapped[str] = mapped_column(ForeignKey("buy_groups.id"), primary_key=True)
    consumer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(32), unique=True)
    paid: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
