"""进货扫码: a store scans a case code on receipt and every item in the case becomes bound to it.

The case's binding is claimed by codes.binding.bind_case (a conditional UPDATE), so two tills
scanning the same case at once bind and rebate once; the same store scanning it again gets the
original receipt back; another store gets 409. A case received outside the regions its batch was
assigned raises a diversion alert (窜货).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from codes.binding import bind_case
from codes.models import BatchKind, Verdict
from codes.verify import verify
from db import new_id, utcnow
from errors import Conflict, ValidationFailed
from identity.models import Store
from identity.regions import covered_by_any
from identity.services import is_partner
from pagination import keyset_page
from storefront.ledger.models import LedgerKind
from storefront.models import AlertKind, DiversionAlert, Receipt
from storefront.rebates import current_policy, try_credit


class CaseNotReceivable(Conflict):
    code = "not_receivable"


def receive_case(session: Session, store_id: str, code: str, *, settle_delay_seconds: int) -> dict:
    found = verify(session, code)
    if found.batch is None:
        raise ValidationFailed({"code": ["Not a valid code."]})
    if found.batch.kind != BatchKind.CASE:
        raise ValidationFailed({"code": ["Not a case code: scan the case label, not a bottle."]})
    if found.verdict in (Verdict.VOIDED, Verdict.REVOKED_KEY):
        raise CaseNotReceivable("This case code is voided.", fields={"code": [found.verdict]})
    if found.verdict == Verdict.INACTIVE:
        raise CaseNotReceivable(
            "This case has not been activated (it has not left the factory).", fields={"code": ["inactive"]}
        )
    brand_id = found.batch.brand_id
    store = session.get(Store, store_id)
    if not is_partner(session, brand_id, store.id):
        raise CaseNotReceivable("This store is not in the brand's partner network.", fields={"code": ["not_partner"]})
    now = utcnow()
    diversion = not covered_by_any(found.batch.region_codes, store.region_code)
    bound = bind_case(session, found, store_id=store.id, store_region=store.region_code, diversion=diversion, at=now)
    if bound is None:
        session.rollback()
        receipt = session.scalar(select(Receipt).where(Receipt.case_serial == found.serial))
        if receipt is None or receipt.store_id != store_id:
            raise CaseNotReceivable("Another store has already received this case.", fields={"code": ["received"]})
        return _describe(receipt, rebate_now=0, repeat=True)
    if diversion:
        session.add(
            DiversionAlert(
                brand_id=brand_id,
                kind=AlertKind.RECEIPT,
                serial=found.serial,
                batch_id=found.batch.id,
                store_id=store.id,
                expected_regions=found.batch.region_codes,
                seen_region=store.region_code,
                distributor=found.batch.distributor,
                at=now,
            )
        )
    policy = current_policy(session, brand_id)
    rebate = try_credit(
        session,
        store.id,
        brand_id,
        (policy.per_receipt_item_fen if policy else 0) * bound,
        key=f"receipt:{found.serial}",
        kind=LedgerKind.RECEIPT_REBATE,
        reference=str(found.serial),
        delay_seconds=settle_delay_seconds,
    )
    receipt = Receipt(
        id=new_id("rc"),
        case_serial=found.serial,
        store_id=store.id,
        brand_id=brand_id,
        items=bound,
        rebate_fen=rebate,
        diversion=diversion,
        at=now,
    )
    session.add(receipt)
    session.commit()
    return _describe(receipt, rebate_now=rebate, repeat=False)


def _describe(receipt: Receipt, rebate_now: int, repeat: bool) -> dict:
    return {
        "receipt_id": receipt.id,
        "case_serial": receipt.case_serial,
        "bound_items": receipt.items,
        "rebate_fen": rebate_now,
        "diversion": receipt.diversion,
        "already_received": repeat,
    }


def store_receipts(session: Session, store_id: str, limit: int, cursor: str | None):
    """The cases this store received, the latest first, one keyset page: (receipts, next_cursor)."""
    query = select(Receipt).where(Receipt.store_id == store_id)
    return keyset_page(session, query, [Receipt.at, Receipt.id], limit, cursor)
