from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, utcnow


class Brand(Base):
    __tablename__ = "brands"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Store(Base):
    __tablename__ = "stores"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    owner_phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """One of a brand's or a store's API keys. Only the SHA-256 of the secret is kept; a revoked key
    stays listed (with revoked_at) and is refused everywhere, the store page included."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint("(brand_id IS NULL) <> (store_id IS NULL)", name="one_owner"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    brand_id: Mapped[str | None] = mapped_column(ForeignKey("brands.id"), index=True)
    store_id: Mapped[str | None] = mapped_column(ForeignKey("stores.id"), index=True)
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class LoginProof(Base):
    """A consumer login proof already exchanged for a session. The primary key makes a proof single
    use (the database, not a read in Python, decides between two requests sending the same one);
    rows are pruned once the proof would be refused as too old anyway."""

    __tablename__ = "login_proofs"
    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class Consumer(Base):
    __tablename__ = "consumers"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    openid: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Partnership(Base):
    """A store in a brand's partner network (it may redeem the brand's coupons, receive its cases)."""

    __tablename__ = "partnerships"
    __table_args__ = (UniqueConstraint("brand_id", "store_id"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
