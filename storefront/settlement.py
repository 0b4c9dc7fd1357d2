"""Store earnings: credited as pending, available once the refund window has passed.

Every credit to a store's pending account goes through `credit_store`, which also writes a
settlement row due `SETTLEMENT_DELAY_SECONDS` later. The settlement sweep moves each due row's
amount pending -> available exactly once (a conditional UPDATE claims the row; the transfer's
idempotency key is derived from it). A reversal (refund) takes the money back from pending if the
row has not settled, or claws it back from available if it has.

Clawback decision: a store's available balance never goes below zero. When a refund arrives
after the store has already withdrawn its share, the store gives back what it has available and
the brand covers the rest from its revenue (or, failing that, its budget); the order's refund
record says how much each covered, so the brand can settle it with the store off-platform.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db import insert_ignore, utcnow
from errors import InsufficientFunds
from storefront import ledger
from storefront.models import Settlement


store_account = ledger.store_account


def _delay() -> timedelta:
    return timedelta(seconds=int(current_app.config.get("SETTLEMENT_DELAY_SECONDS", 604800)))


def schedule(session: Session, store_id: str, amount_fen: int, *, key: str, kind: str,
             reference: str | None, now: datetime | None = None) -> None:
    """Record that `amount_fen` credited to the store's pending account under `key` settles later."""
    insert_ignore(session, Settlement.__table__, [{
        "source_key": key, "store_id": store_id, "amount_fen": amount_fen, "kind": kind, "reference": reference,
        "status": "pending", "due_at": (now or utcnow()) + _delay()}], ["source_key"])


def credit_store(session: Session, store_id: str, debit: ledger.AccountRef, amount_fen: int, *, key: str,
                 kind: str, reference: str | None = None, metadata: dict | None = None):
    """Move money into a store's pending balance and schedule its settlement (idempotent on key)."""
    if amount_fen <= 0:
        return None
    transfer = ledger.transfer(session, debit, store_account(store_id, "pending"), amount_fen, key=key, kind=kind,
                               reference=reference, metadata=metadata)
    schedule(session, store_id, amount_fen, key=key, kind=kind, reference=reference)
    return transfer


def settle_due(session: Session, now: datetime | None = None, batch_size: int = 500) -> int:
    """Sweep: every due pending row moves pending -> available, once, even with two sweeps racing."""
    now = now or utcnow()
    settled = 0
    while True:
        ids = list(session.scalars(select(Settlement.id).where(Settlement.status == "pending", Settlement.due_at <= now)
                                   .order_by(Settlement.id).limit(batch_size)))
        if not ids:
            return settled
        for row_id in ids:   # one row per transaction: never hold one store's accounts while waiting on another's
            won = session.execute(update(Settlement).where(Settlement.id == row_id, Settlement.status == "pending")
                                  .values(status="settled", settled_at=now)
                                  .execution_options(synchronize_session=False)).rowcount == 1
            if won:
                row = session.get(Settlement, row_id)
                ledger.transfer(session, store_account(row.store_id, "pending"),
                                store_account(row.store_id, "available"), row.amount_fen,
                                key=f"settle:{row.source_key}", kind="settlement", reference=row.reference)
                settled += 1
            session.commit()


def reversal_legs(session: Session, source_key: str, amount_fen: int, to: ledger.AccountRef,
                  cover: list[ledger.AccountRef], planned: dict[str, int] | None = None) -> tuple[list, dict]:
    """Legs that take back `amount_fen` of the store credit recorded under `source_key` and send it to `to`.

    Unsettled: from the store's pending balance (the row is marked reversed). Settled: from the
    store's available balance as far as it goes, the rest from the first of `cover` that can pay.
    The caller posts the legs in its own single transfer; the ledger re-checks every bound under
    its locks, so a balance that moved meanwhile refuses the whole transfer rather than overdraw.
    `planned` ({account name: fen}) is what the caller's one transfer already takes from accounts;
    it is read to leave that money alone and updated with what these legs take, so several
    reversals planned for the same transfer never count the same fen twice.
    """
    planned = {} if planned is None else planned
    record = {"from_pending": 0, "from_available": 0, "covered_by": {}}
    if amount_fen <= 0:
        return [], record
    row = session.scalar(select(Settlement).where(Settlement.source_key == source_key).with_for_update())
    if row is None:
        raise LookupError(f"no store credit under {source_key}")
    store = row.store_id
    unsettled = session.execute(update(Settlement).where(Settlement.id == row.id, Settlement.status == "pending")
                                .values(status="reversed", settled_at=utcnow())
                                .execution_options(synchronize_session=False)).rowcount == 1
    if unsettled:
        record["from_pending"] = amount_fen
        return [(store_account(store, "pending"), to, amount_fen)], record
    available = store_account(store, "available")
    available_name = ledger.account_name(available)
    take = min(max(0, ledger.spendable(session, available) - planned.get(available_name, 0)), amount_fen)
    legs = [(available, to, take)] if take else []
    planned[available_name] = planned.get(available_name, 0) + take
    record["from_available"] = take
    short = amount_fen - take
    for payer in cover if short else []:
        name = ledger.account_name(payer)
        if ledger.spendable(session, payer) - planned.get(name, 0) >= short:
            legs.append((payer, to, short))
            planned[name] = planned.get(name, 0) + short
            record["covered_by"][name] = short
            return legs, record
    if short:
        raise InsufficientFunds("Neither the store nor the brand can cover this refund.")
    return legs, record
