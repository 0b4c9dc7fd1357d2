"""Products, batches and their lifecycle by serial ranges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from codes import catalog, gtins, keys, ranges
from codes.models import Batch, BatchKind, BatchStatus, Code, CodeFormat, CodeRange, Product, RangeAction, SerialCounter
from codes.tokens import LOT_RE, MAX_SERIAL, normalize_gtin
from db import new_id
from errors import Conflict, Forbidden, NotFound, ValidationFailed, invalid
from identity.regions import is_region_code

MAX_BATCH = 10_000_000


# --- products --------------------------------------------------------------------------------


def create_product(
    session: Session,
    brand_id: str,
    sku: str,
    name: str,
    price_fen: int,
    cost_fen: int | None = None,
    gtin: str | None = None,
) -> Product:
    if gtin is not None:
        try:
            gtin = normalize_gtin(gtin)
        except ValueError as exc:
            raise invalid("gtin", str(exc)) from None
    if cost_fen is not None and cost_fen > price_fen:
        raise invalid("cost_fen", "Cost cannot exceed the price.")
    if session.scalar(select(Product.id).where(Product.brand_id == brand_id, Product.sku == sku)):
        raise Conflict("A product with this SKU exists.", fields={"sku": ["Already used by another product."]})
    if gtin is not None:
        gtins.claim(session, brand_id, gtin)
    product = Product(
        id=new_id("pr"), brand_id=brand_id, sku=sku, name=name, price_fen=price_fen, cost_fen=cost_fen, gtin=gtin
    )
    session.add(product)
    session.commit()
    return product


def own_product(session: Session, brand_id: str, product_id: str, field: str = "product_id") -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound("No such product.", fields={field: ["No product with this id."]})
    if product.brand_id != brand_id:
        raise Forbidden("This product belongs to another brand.", fields={field: ["Not your product."]})
    return product


def list_products(session: Session, brand_id: str, limit: int, cursor: str | None):
    """The brand's catalogue, newest first, one keyset page: (products, next_cursor)."""
    from pagination import keyset_page

    query = select(Product).where(Product.brand_id == brand_id)
    return keyset_page(session, query, [Product.created_at, Product.id], limit, cursor)


# --- batches ---------------------------------------------------------------------------------


def _allocate_serials(session: Session, quantity: int) -> int:
    """Take `quantity` consecutive serials from the global counter; returns the first."""
    stmt = (
        update(SerialCounter)
        .where(SerialCounter.id == 1)
        .values(next_serial=SerialCounter.next_serial + quantity)
        .returning(SerialCounter.next_serial)
    )
    after = session.execute(stmt).scalar_one()
    if after - 1 > MAX_SERIAL:
        raise Conflict("The serial space is exhausted.")
    return after - quantity


def create_batch(
    session: Session,
    brand_id: str,
    product_id: str,
    quantity: int,
    lot: str,
    produced_on: date,
    expires_on: date | None = None,
    kind: str = BatchKind.ITEM,
    format: str = CodeFormat.SHORT,
    region_codes: list[str] | None = None,
    distributor: str | None = None,
) -> Batch:
    product = own_product(session, brand_id, product_id)
    errors: dict[str, list[str]] = {}
    if not 1 <= quantity <= MAX_BATCH:
        errors["quantity"] = [f"Must be between 1 and {MAX_BATCH:,}."]
    if not LOT_RE.fullmatch(lot):
        errors["lot"] = ["1 to 20 characters of letters, digits, '.', '_' or '-'."]
    if expires_on is not None and expires_on < produced_on:
        errors["expires_on"] = ["Cannot be before produced_on."]
    if format == CodeFormat.GS1 and not product.gtin:
        errors["format"] = ["The gs1 format needs a product with a GTIN."]
    bad_regions = [r for r in (region_codes or []) if not is_region_code(r)]
    if bad_regions:
        errors["region_codes"] = [f"Not six-digit region codes: {', '.join(bad_regions[:5])}."]
    if errors:
        raise ValidationFailed(errors)
    if format == CodeFormat.GS1:
        gtins.ensure_owned(session, brand_id, product.gtin)
    key = keys.current_key(session, brand_id)
    first = _allocate_serials(session, quantity)
    batch = Batch(
        id=new_id("ba"),
        brand_id=brand_id,
        product_id=product.id,
        kind=kind,
        format=format,
        quantity=quantity,
        serial_from=first,
        serial_to=first + quantity - 1,
        key_id=key.id,
        lot=lot,
        produced_on=produced_on,
        expires_on=expires_on,
        region_codes=sorted(set(region_codes or [])),
        distributor=distributor,
    )
    session.add(batch)
    session.commit()
    return batch


def own_batch(session: Session, brand_id: str, batch_id: str) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound("No such batch.")
    if batch.brand_id != brand_id:
        raise Forbidden("This batch belongs to another brand.")
    return batch


def list_batches(session: Session, brand_id: str, limit: int, cursor: str | None):
    from pagination import keyset_page

    query = select(Batch).where(Batch.brand_id == brand_id)
    return keyset_page(session, query, [Batch.created_at, Batch.id], limit, cursor)


@dataclass
class BatchSummary:
    batch: Batch
    activated: int
    voided: int
    scanned: int
    status: str


def _range_sets(session: Session, batch_id: str):
    rows = session.execute(
        select(CodeRange.action, CodeRange.serial_from, CodeRange.serial_to).where(CodeRange.batch_id == batch_id)
    ).all()
    activated = [(a, b) for action, a, b in rows if action == RangeAction.ACTIVATE]
    voided = [(a, b) for action, a, b in rows if action == RangeAction.VOID]
    return activated, voided


def summarize(session: Session, batch: Batch) -> BatchSummary:
    activated, voided = _range_sets(session, batch.id)
    live = ranges.size(ranges.subtract(activated, voided))
    void_count = ranges.size(voided)
    scanned = (
        session.scalar(select(func.count()).select_from(Code).where(Code.batch_id == batch.id, Code.scan_count > 0))
        or 0
    )
    if void_count == batch.quantity:
        status = BatchStatus.VOIDED
    elif live == 0:
        status = BatchStatus.ISSUED
    elif live + void_count == batch.quantity:
        status = BatchStatus.ACTIVE
    else:
        status = BatchStatus.PARTIALLY_ACTIVE
    return BatchSummary(batch, live, void_count, scanned, status)


def _check_range(batch: Batch, first: int | None, last: int | None) -> tuple[int, int]:
    first = batch.serial_from if first is None else first
    last = batch.serial_to if last is None else last
    errors = {}
    if not batch.serial_from <= first <= batch.serial_to:
        errors["from"] = [f"Must be within the batch's serials {batch.serial_from}..{batch.serial_to}."]
    if not batch.serial_from <= last <= batch.serial_to:
        errors["to"] = [f"Must be within the batch's serials {batch.serial_from}..{batch.serial_to}."]
    if not errors and last < first:
        errors["to"] = ["Must not be below 'from'."]
    if errors:
        raise ValidationFailed(errors)
    return first, last


def activate(session: Session, brand_id: str, batch_id: str, first: int | None = None, last: int | None = None) -> dict:
    batch = own_batch(session, brand_id, batch_id)
    first, last = _check_range(batch, first, last)
    session.add(CodeRange(batch_id=batch.id, action=RangeAction.ACTIVATE, serial_from=first, serial_to=last))
    catalog.bump(session, "ranges")
    session.commit()
    activated, voided = _range_sets(session, batch.id)
    live = ranges.subtract(activated, voided)
    return {"activated": ranges.size(ranges.clip(live, first, last)), "batch_activated": ranges.size(live)}


def void(session: Session, brand_id: str, batch_id: str, first: int, last: int, reason: str) -> dict:
    batch = own_batch(session, brand_id, batch_id)
    first, last = _check_range(batch, first, last)
    session.add(CodeRange(batch_id=batch.id, action=RangeAction.VOID, serial_from=first, serial_to=last, reason=reason))
    catalog.bump(session, "ranges")
    session.commit()
    _, voided = _range_sets(session, batch.id)
    return {"voided": ranges.size(ranges.clip(voided, first, last)), "batch_voided": ranges.size(voided)}
