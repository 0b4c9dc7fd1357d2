from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Date, Float, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db import Base, sparse_index, utcnow


class Verdict(StrEnum):
    """What verifying a code found (scans.verdict, the landing page's status)."""

    GENUINE = "genuine"
    GENUINE_REPEAT = "genuine_repeat"
    FORGED = "forged"
    UNKNOWN = "unknown"
    INACTIVE = "inactive"
    VOIDED = "voided"
    REVOKED_KEY = "revoked_key"


LIVE = (Verdict.GENUINE, Verdict.GENUINE_REPEAT)  # a real, sellable item


class BatchKind(StrEnum):
    ITEM = "item"
    CASE = "case"


class CodeFormat(StrEnum):
    SHORT = "short"
    GS1 = "gs1"


class BatchStatus(StrEnum):
    """A batch's state, computed from its ranges (codes.batches.summarize)."""

    ISSUED = "issued"
    ACTIVE = "active"
    PARTIALLY_ACTIVE = "partially_active"
    VOIDED = "voided"


class RangeAction(StrEnum):
    ACTIVATE = "activate"
    VOID = "void"


class CodeEventType(StrEnum):
    """A code's history (code_events.type); the trace adds issued, activated, voided and scanned."""

    PACKED = "packed"
    UNPACKED = "unpacked"
    SHIPPED = "shipped"
    RECEIVED = "received"


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("brand_id", "sku"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    cost_fen: Mapped[int | None] = mapped_column(BigInteger)
    gtin: Mapped[str | None] = mapped_column(String(14))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Gtin(Base):
    """Who owns a GTIN: the one brand that may register products and mint GS1 codes with it (the
    primary key decides between brands racing for it; codes/gtins.py)."""

    __tablename__ = "gtins"
    gtin: Mapped[str] = mapped_column(String(14), primary_key=True)
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Gs1Prefix(Base):
    """A GS1 company prefix the operator assigned to a brand: every GTIN under it is that brand's."""

    __tablename__ = "gs1_prefixes"
    prefix: Mapped[str] = mapped_column(String(12), primary_key=True)
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SigningKey(Base):
    """A brand's code-signing key; the secret is AES-GCM encrypted under CODE_MASTER_KEY."""

    __tablename__ = "signing_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()


class SerialCounter(Base):
    """One row: the next free serial. Batches take contiguous ranges from it atomically."""

    __tablename__ = "serial_counter"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_serial: Mapped[int] = mapped_column(BigInteger)


class Batch(Base):
    __tablename__ = "batches"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # item | case
    format: Mapped[str] = mapped_column(String(8))  # short | gs1
    quantity: Mapped[int] = mapped_column(BigInteger)
    serial_from: Mapped[int] = mapped_column(BigInteger, unique=True)
    serial_to: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[int] = mapped_column(ForeignKey("signing_keys.id"))
    lot: Mapped[str] = mapped_column(String(20))
    produced_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    region_codes: Mapped[list] = mapped_column(JSON, default=list)
    distributor: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CodeRange(Base):
    """Activation or void of a serial range: lifecycle without a row per code."""

    __tablename__ = "code_ranges"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), index=True)
    action: Mapped[str] = mapped_column(String(10))  # activate | void
    serial_from: Mapped[int] = mapped_column(BigInteger)
    serial_to: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Code(Base):
    """A per-code row, created only when something happens to that code."""

    __tablename__ = "codes"
    __table_args__ = (sparse_index("codes", "parent_serial"), sparse_index("codes", "bound_store_id"))
    serial: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), index=True)
    parent_serial: Mapped[int | None] = mapped_column(BigInteger)
    bound_store_id: Mapped[str | None] = mapped_column(String(32))
    bound_at: Mapped[datetime | None] = mapped_column()
    scan_count: Mapped[int] = mapped_column(Integer, default=0)
    first_scan_at: Mapped[datetime | None] = mapped_column()
    first_scan_lat: Mapped[float | None] = mapped_column(Float)
    first_scan_lng: Mapped[float | None] = mapped_column(Float)
    claimed_by: Mapped[str | None] = mapped_column(String(32), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column()


class CodeEvent(Base):
    """Append-only per-code history (packed, unpacked, received, scanned, ...)."""

    __tablename__ = "code_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    serial: Mapped[int] = mapped_column(BigInteger, index=True)
    type: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class Scan(Base):
    """Every consumer scan, append-only: who, which code, when, where, from which IP, what verdict."""

    __tablename__ = "scans"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    consumer_id: Mapped[str | None] = mapped_column(String(32), index=True)
    serial: Mapped[int | None] = mapped_column(BigInteger, index=True)
    batch_id: Mapped[str | None] = mapped_column(String(32))
    brand_id: Mapped[str | None] = mapped_column(String(32), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    claimed: Mapped[bool] = mapped_column(default=False)
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    region_code: Mapped[str | None] = mapped_column(String(6))
    ip: Mapped[str | None] = mapped_column(String(45))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class CacheVersion(Base):
    """A counter per area of cached rows (keys, ranges, campaigns, blacklist), bumped in the same
    transaction as every change to that area; see codes/catalog.py."""

    __tablename__ = "cache_versions"
    area: Mapped[str] = mapped_column(String(20), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
