"""Store earnings (and consumers' referral earnings): credited as pending, available once the
refund window has passed.

A settlement row belongs to a store (store_id) or to a consumer (consumer_id, its referral
commissions and split shares); everything below works the same for both, on the owner's accounts
(`owner_account`).

Every credit to a store's pending account goes through `credit_store` (or `schedule`, for a
credit the caller posts in its own transfer), which also writes a settlement row due
`delay_seconds` later (the app's SETTLEMENT_DELAY_SECONDS, passed in by the view, job or receiver).
The settlement sweep moves each due row's amount pending -> available exactly once (a conditional
UPDATE claims the row; the transfer's idempotency key is derived from it). A reversal (refund)
takes the money back from pending if the row has not settled, or claws it back from available if
it has.

Clawback decision: a store's available balance never goes below zero. When a refund arrives
after the store has already withdrawn its share, the store gives back what it has available and
the brand covers the rest from its revenue (or, failing that, its budget); the order's refund
record says how much each covered, so the brand can settle it with the store off-platform.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db import insert_ignore, utcnow
from errors import InsufficientFunds
from storefront.ledger.accounts import AccountRef, account_name, spendable, store_account
from storefront.ledger.books import lock
from storefront.ledger.models import Account, LedgerKind, Settlement, SettlementStatus
from storefront.ledger.transfers import transfer

# The states each status may follow (the only way a settlement's status changes is `_move`).
_FROM = {SettlementStatus.SETTLED: (SettlementStatus.PENDING,), SettlementStatus.REVERSED: (SettlementStatus.PENDING,)}


def _move(session: Session, row_id: int, to: SettlementStatus, at: datetime, *where) -> bool:
    """Conditional UPDATE to `to` from the states it may follow; True if this transaction won the row."""
    return (
        session.execute(
            update(Settlement)
            .where(Settlement.id == row_id, Settlement.status.in_(_FROM[to]), *where)
            .values(status=to, settled_at=at)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def owner_account(row: Settlement, purpose: str) -> AccountRef:
    """The row's owner's account for `purpose`: ("store", id, purpose) or ("consumer", id, purpose)."""
    return store_account(row.store_id, purpose) if row.store_id else ("consumer", row.consumer_id, purpose)


def _owned_by(owner_id: str, owner_type: str):
    return Settlement.consumer_id == owner_id if owner_type == "consumer" else Settlement.store_id == owner_id


def schedule(
    session: Session,
    store_id: str | None,
    amount_fen: int,
    *,
    key: str,
    kind: str,
    reference: str | None,
    delay_seconds: int,
    now: datetime | None = None,
    consumer_id: str | None = None,
) -> None:
    """Record that `amount_fen` credited to the store's (or, with store_id None, the consumer's)
    pending account under `key` settles `delay_seconds` later."""
    insert_ignore(
        session,
        Settlement.__table__,
        [
            {
                "source_key": key,
                "store_id": store_id,
                "consumer_id": consumer_id,
                "amount_fen": amount_fen,
                "kind": kind,
                "reference": reference,
                "status": SettlementStatus.PENDING,
                "due_at": (now or utcnow()) + timedelta(seconds=delay_seconds),
            }
        ],
        ["source_key"],
    )


def credit_store(
    session: Session,
    store_id: str,
    debit: AccountRef,
    amount_fen: int,
    *,
    key: str,
    kind: str,
    delay_seconds: int,
    reference: str | None = None,
    metadata: dict | None = None,
):
    """Move money into a store's pending balance and schedule its settlement (idempotent on key)."""
    if amount_fen <= 0:
        return None
    moved = transfer(
        session,
        debit,
        store_account(store_id, "pending"),
        amount_fen,
        key=key,
        kind=kind,
        reference=reference,
        metadata=metadata,
    )
    schedule(session, store_id, amount_fen, key=key, kind=kind, reference=reference, delay_seconds=delay_seconds)
    return moved


def credit_consumer(
    session: Session,
    consumer_id: str,
    debit: AccountRef,
    amount_fen: int,
    *,
    key: str,
    kind: str,
    delay_seconds: int,
    reference: str | None = None,
    metadata: dict | None = None,
):
    """credit_store for a consumer's earnings (a referral commission): pending now, available later."""
    if amount_fen <= 0:
        return None
    moved = transfer(
        session,
        debit,
        ("consumer", consumer_id, "pending"),
        amount_fen,
        key=key,
        kind=kind,
        reference=reference,
        metadata=metadata,
    )
    schedule(
        session,
        None,
        amount_fen,
        key=key,
        kind=kind,
        reference=reference,
        delay_seconds=delay_seconds,
        consumer_id=consumer_id,
    )
    return moved


def settle_due(session: Session, now: datetime | None = None, batch_size: int = 500) -> int:
    """Sweep: every due pending row moves pending -> available, once, even with two sweeps racing.
    A row an open refund holds waits (refunds.hold_store_credits); what a refund already took back
    from pending (`reversed_fen`) stays behind."""
    now = now or utcnow()
    settled = 0
    while True:
        ids = list(
            session.scalars(
                select(Settlement.id)
                .where(Settlement.status == SettlementStatus.PENDING, Settlement.due_at <= now, Settlement.holds == 0)
                .order_by(Settlement.id)
                .limit(batch_size)
            )
        )
        if not ids:
            return settled
        for row_id in ids:  # one row per transaction: never hold one store's accounts while waiting on another's
            if _move(session, row_id, SettlementStatus.SETTLED, now, Settlement.holds == 0):
                row = session.get(Settlement, row_id)
                transfer(
                    session,
                    owner_account(row, "pending"),
                    owner_account(row, "available"),
                    row.amount_fen - row.reversed_fen,
                    key=f"settle:{row.source_key}",
                    kind=LedgerKind.SETTLEMENT,
                    reference=row.reference,
                )
                settled += 1
            session.commit()


def what_becomes_available(session: Session, store_id: str, owner_type: str = "store") -> dict:
    """The store's (or consumer's) money as a payout sees it: what it may take now, what open refunds
    hold, what is pending, and the next settlement (its amount and when) that nothing holds back."""
    available = (owner_type, store_id, "available")
    owned = _owned_by(store_id, owner_type)
    found = session.execute(
        select(Account.balance_fen, Account.pending_debits_fen).where(Account.name == account_name(available))
    ).first()
    balance_fen, held_fen = (int(found[0]), int(found[1])) if found else (0, 0)
    pending_fen = int(
        session.scalar(
            select(func.coalesce(func.sum(Settlement.amount_fen - Settlement.reversed_fen), 0)).where(
                owned, Settlement.status == SettlementStatus.PENDING
            )
        )
    )
    next_at = session.scalar(
        select(func.min(Settlement.due_at)).where(
            owned, Settlement.status == SettlementStatus.PENDING, Settlement.holds == 0
        )
    )
    next_fen = 0
    if next_at is not None:
        next_fen = int(
            session.scalar(
                select(func.coalesce(func.sum(Settlement.amount_fen - Settlement.reversed_fen), 0)).where(
                    owned,
                    Settlement.status == SettlementStatus.PENDING,
                    Settlement.holds == 0,
                    Settlement.due_at == next_at,
                )
            )
        )
    return {
        "available_fen": balance_fen - held_fen,
        "held_fen": held_fen,
        "pending_fen": pending_fen,
        "next_fen": next_fen,
        "next_at": next_at,
    }


def hold(session: Session, store_id: str, reference: str) -> list[dict]:
    """Keep the store's unsettled credits under `reference` (an order id) from settling while a
    refund is open; returns every credit under it as {id, status, amount_fen, reversed_fen}.
    Each `hold` is undone by one `release` of the same rows."""
    rows = list(
        session.scalars(
            select(Settlement)
            .where(Settlement.store_id == store_id, Settlement.reference == reference)
            .order_by(Settlement.id)
            .with_for_update()
        )
    )
    pending = [r.id for r in rows if r.status == SettlementStatus.PENDING]
    if pending:
        session.execute(
            update(Settlement)
            .where(Settlement.id.in_(pending))
            .values(holds=Settlement.holds + 1)
            .execution_options(synchronize_session=False)
        )
    return [{"id": r.id, "status": r.status, "amount_fen": r.amount_fen, "reversed_fen": r.reversed_fen} for r in rows]


def has_credit(session: Session, source_key: str) -> bool:
    """Whether a credit was scheduled under `source_key` (orders split before referrer shares had
    settlement rows have none for those shares)."""
    return session.scalar(select(Settlement.id).where(Settlement.source_key == source_key)) is not None


def release(session: Session, row_ids: list[int]) -> None:
    """Undo one `hold` of these rows (they settle on the next sweep once due and unheld)."""
    if row_ids:
        session.execute(
            update(Settlement)
            .where(Settlement.id.in_(row_ids), Settlement.holds > 0)
            .values(holds=Settlement.holds - 1)
            .execution_options(synchronize_session=False)
        )


def reversal_legs(
    session: Session,
    source_key: str,
    amount_fen: int,
    to: AccountRef,
    cover: list[AccountRef],
    planned: dict[str, int] | None = None,
) -> tuple[list, dict]:
    """Legs that take back `amount_fen` (all or part) of the store credit recorded under `source_key`
    and send it to `to`.

    Unsettled: from the store's pending balance (the row keeps what was taken in `reversed_fen`,
    and is marked reversed once nothing is left). Settled: from the store's available balance as
    far as it goes, the rest from the first of `cover` that can pay. The store's available account
    is locked before it is read, so a payout racing this reversal either went first (and the
    reversal sees the smaller balance) or waits; the caller posts the legs in its own transfer.
    `planned` ({account name: fen}) is what the caller's one transfer already takes from accounts;
    it is read to leave that money alone and updated with what these legs take, so several
    reversals planned for the same transfer never count the same fen twice.
    """
    planned = {} if planned is None else planned
    record = {"from_pending": 0, "from_available": 0, "covered_by": {}}
    if amount_fen <= 0:
        return [], record
    row = session.scalar(
        select(Settlement)
        .where(Settlement.source_key == source_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise LookupError(f"no store credit under {source_key}")
    if row.status == SettlementStatus.PENDING:
        left = row.amount_fen - row.reversed_fen
        if amount_fen > left:
            raise InsufficientFunds("More than is left of this store credit.")
        row.reversed_fen += amount_fen
        if row.reversed_fen == row.amount_fen:
            _move(session, row.id, SettlementStatus.REVERSED, utcnow())
        session.flush()
        record["from_pending"] = amount_fen
        return [(owner_account(row, "pending"), to, amount_fen)], record
    available = owner_account(row, "available")
    available_name = account_name(available)
    lock(session, [available])
    take = min(max(0, spendable(session, available) - planned.get(available_name, 0)), amount_fen)
    legs = [(available, to, take)] if take else []
    planned[available_name] = planned.get(available_name, 0) + take
    record["from_available"] = take
    short = amount_fen - take
    for payer in cover if short else []:
        name = account_name(payer)
        lock(session, [payer])
        if spendable(session, payer) - planned.get(name, 0) >= short:
            legs.append((payer, to, short))
            planned[name] = planned.get(name, 0) + short
            record["covered_by"][name] = short
            return legs, record
    if short:
        raise InsufficientFunds("Neither the store nor the brand can cover this refund.")
    return legs, record
