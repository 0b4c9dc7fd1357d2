"""Verification: what a code string is, and the verdict a scan or the landing page shows.

Verdicts (API.md): genuine, genuine_repeat, forged, unknown, inactive, voided, revoked_key.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from codes import keys, tokens
from codes.models import Batch, Code, CodeRange, Product, SigningKey
from errors import Forbidden, NotFound
from identity.models import Brand

LIVE = ("genuine", "genuine_repeat")


@dataclass
class Verification:
    verdict: str
    parsed: tokens.ParsedCode | None = None
    batch: Batch | None = None
    product: Product | None = None
    code: Code | None = None

    @property
    def serial(self) -> int | None:
        return self.parsed.serial if self.parsed else None

    @property
    def scan_count(self) -> int:
        return self.code.scan_count if self.code else 0


def batch_for_serial(session: Session, serial: int) -> Batch | None:
    batch = session.scalar(select(Batch).where(Batch.serial_from <= serial)
                           .order_by(Batch.serial_from.desc()).limit(1))
    return batch if batch is not None and serial <= batch.serial_to else None


def range_state(session: Session, batch_id: str, serial: int) -> tuple[bool, bool]:
    """(activated, voided) for one serial, from the batch's ranges."""
    actions = set(session.scalars(select(CodeRange.action).where(
        CodeRange.batch_id == batch_id, CodeRange.serial_from <= serial, CodeRange.serial_to >= serial)))
    return "activate" in actions, "void" in actions


def verify(session: Session, code: str) -> Verification:
    try:
        parsed = tokens.parse(code)
    except tokens.Malformed:
        return Verification("forged")
    found = keys.secret_for(session, parsed.key_id)
    if found is None or not tokens.mac_ok(found[1], parsed):
        return Verification("forged")
    batch = batch_for_serial(session, parsed.serial)
    if batch is not None and (batch.key_id != parsed.key_id or batch.format != parsed.form):
        return Verification("forged")
    product = session.get(Product, batch.product_id) if batch else None
    if parsed.form == "gs1" and batch is not None and (product.gtin != parsed.gtin or batch.lot != parsed.lot):
        return Verification("forged")
    result = Verification("unknown", parsed, batch, product)
    if session.get(SigningKey, parsed.key_id).revoked_at is not None:
        result.verdict = "revoked_key"
        return result
    if batch is None:
        return result
    result.code = session.get(Code, parsed.serial)
    activated, voided = range_state(session, batch.id, parsed.serial)
    if voided:
        result.verdict = "voided"
    elif not activated:
        result.verdict = "inactive"
    else:
        result.verdict = "genuine_repeat" if result.scan_count > 0 else "genuine"
    return result


def own_code(session: Session, brand: Brand, code: str, field: str = "code") -> Verification:
    """A code of this brand's (in any lifecycle state) for brand endpoints; 404/403 otherwise."""
    result = verify(session, code)
    if result.batch is None:
        raise NotFound("No such code.", fields={field: ["Not a valid code of any batch."]})
    if result.batch.brand_id != brand.id:
        raise Forbidden("This code belongs to another brand.", fields={field: ["Not your code."]})
    return result


def gs1_fields(session: Session, batch: Batch) -> tuple[str, str] | None:
    return (session.get(Product, batch.product_id).gtin, batch.lot) if batch.format == "gs1" else None


def code_url(session: Session, base_url: str, batch: Batch, serial: int) -> str:
    """The printed URL of one code (short or GS1 form)."""
    _, secret = keys.secret_for(session, batch.key_id)
    return tokens.code_url(base_url, secret, batch.key_id, serial, gs1_fields(session, batch))
