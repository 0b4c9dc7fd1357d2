"""Transfers: the only code that writes ledger entries (through storefront.ledger.books).

Every function here works inside the caller's transaction and never commits: a caller can make
"mark the coupon redeemed" and "move the money" one atomic change. A refusal (insufficient funds,
an idempotency conflict, a settled pending transfer) is decided before anything is written, and a
lost idempotency race is absorbed by INSERT ... ON CONFLICT DO NOTHING rather than an error, so the
caller's transaction always stays usable; no SAVEPOINT is needed (the hot path is one locking
SELECT and three writes).

How the guarantees are kept:
- Idempotency: a transfer's `key` is unique in the database. The same key with the same content
  (kind, legs, amounts, reference, pending) returns the original transfer; with other content it
  is IdempotencyConflict (409). Two transactions racing on one key are decided by the unique
  constraint (the second INSERT waits for the first to commit, then inserts nothing); the loser
  gets the winner's transfer. A replay is answered even if the money has been spent since.
  `expires_at` and `metadata` are not part of the content: the first write wins (a retry that
  recomputes "now + 1 day" is still a replay).
- Balance bounds: the touched account rows are locked (storefront.ledger.books), the running
  totals are read under that lock, and a CHECK constraint refuses a negative spendable balance on
  a bounded account as a second, independent guard.
- Running totals: `balance_fen` on the account row is updated in the same transaction as the
  entries it sums; every entry also records `balance_after_fen`. `audit.verify` re-adds them.
- Tamper evidence: entries form one hash chain per account (storefront.ledger.audit).
- Two-phase: a pending transfer writes no entries; it reserves the amount on the debit account
  (`pending_debits_fen`, which lowers what can be spent) until it is posted (whole or part: the
  rest is released), voided, or expired by the sweep.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import new_id, utcnow
from errors import Conflict, IdempotencyConflict, InsufficientFunds, NotFound, invalid
from storefront.ledger.accounts import AccountRef, account_name
from storefront.ledger.books import chain, lock, lock_ids, save, write
from storefront.ledger.models import Transfer, TransferStatus

MAX_AMOUNT_FEN = 10**15


def _content_hash(content: dict) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# --- validation ------------------------------------------------------------------------------


def _check_amount(amount_fen, field: str = "amount_fen") -> int:
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise invalid(field, "Must be a whole number of fen.")
    if amount_fen < 0:
        raise invalid(field, "Must not be negative.")
    if amount_fen > MAX_AMOUNT_FEN:
        raise invalid(field, "Too large.")
    return amount_fen


def _check_text(value, field: str, limit: int, required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or not value or len(value) > limit:
        raise invalid(field, f"Must be a string of 1 to {limit} characters.")


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


# --- writing ---------------------------------------------------------------------------------


def _by_key(session: Session, key: str) -> Transfer | None:
    return session.scalar(select(Transfer).where(Transfer.key == key).execution_options(populate_existing=True))


def _same_or_conflict(existing: Transfer, content_hash: str) -> Transfer:
    if existing.content_hash != content_hash:
        raise IdempotencyConflict(f"The key {existing.key!r} was already used for a different transfer.")
    return existing


def _replay(session: Session, key: str, content_hash: str) -> Transfer:
    return _same_or_conflict(_by_key(session, key), content_hash)


def _overdrawn(books, deltas: dict):
    """The first bounded account these changes would take below zero, or None."""
    for name, delta in deltas.items():
        book = books[name]
        if book.bounded and delta < 0 and book.balance_fen - book.pending_debits_fen + delta < 0:
            return book
    return None


def _replay_or_refuse(session: Session, key: str, content_hash: str, short) -> Transfer:
    """Refused before anything was written, unless the key was used before: then that transfer is the
    answer, funds or not (a replay must not fail because the money has been spent since)."""
    existing = _by_key(session, key)
    if existing is not None:
        return _same_or_conflict(existing, content_hash)
    error = InsufficientFunds(f"Not enough {short.purpose} balance for this amount.")
    error.account = short.ref
    raise error


def transfer(
    session: Session,
    debit: AccountRef,
    credit: AccountRef,
    amount_fen: int,
    *,
    key: str,
    kind: str,
    reference: str | None = None,
    pending: bool = False,
    expires_at: datetime | None = None,
    metadata: dict | None = None,
) -> Transfer:
    """Move `amount_fen` from `debit` to `credit`, or with pending=True reserve it for a later post/void."""
    if not pending:
        return transfer_many(
            session, [(debit, credit, amount_fen)], key=key, kind=kind, reference=reference, metadata=metadata
        )
    _check_amount(amount_fen)
    _check_text(key, "key", 255)
    _check_text(kind, "kind", 32)
    _check_text(reference, "reference", 255, required=False)
    debit_name, credit_name = account_name(debit), account_name(credit)
    if debit_name == credit_name:
        raise invalid("credit", "A transfer needs two different accounts.")
    content = _content_hash(
        {"kind": kind, "legs": [[debit_name, credit_name, amount_fen]], "reference": reference, "pending": True}
    )

    session.flush()  # the caller's pending ORM changes go first, as autoflush would
    books = lock(session, [debit, credit])
    d, c = books[debit_name], books[credit_name]
    short = _overdrawn(books, {debit_name: -amount_fen})
    if short is not None:
        return _replay_or_refuse(session, key, content, short)
    d.pending_debits_fen += amount_fen
    c.pending_credits_fen += amount_fen
    row = {
        "id": new_id("tr"),
        "key": key,
        "kind": kind,
        "reference": reference,
        "amount_fen": amount_fen,
        "debit_account_id": d.id,
        "credit_account_id": c.id,
        "status": TransferStatus.PENDING,
        "pending": True,
        "expires_at": _naive_utc(expires_at),
        "meta": dict(metadata or {}),
        "content_hash": content,
        "created_at": utcnow(),
    }
    return write(session, row, [], [d, c]) or _replay(session, key, content)


def transfer_many(
    session: Session,
    legs: list[tuple[AccountRef, AccountRef, int]],
    *,
    key: str,
    kind: str,
    reference: str | None = None,
    metadata: dict | None = None,
) -> Transfer:
    """One transfer of several legs (debit, credit, amount): all are written, or none is.

    Bounds are judged on each account's net change, so A->B then B->C may pass through an empty B.
    Legs of 0 are skipped; a transfer whose legs are all 0 is recorded (for its key) with no entries.
    """
    _check_text(key, "key", 255)
    _check_text(kind, "kind", 32)
    _check_text(reference, "reference", 255, required=False)
    if not isinstance(legs, (list, tuple)) or not legs:
        raise invalid("legs", "A transfer needs at least one leg.")
    named = []
    for debit, credit, amount in legs:
        _check_amount(amount)
        debit_name, credit_name = account_name(debit), account_name(credit)
        if debit_name == credit_name:
            raise invalid("credit", "A transfer needs two different accounts.")
        if amount:
            named.append((debit, credit, debit_name, credit_name, amount))
    content = _content_hash(
        {"kind": kind, "legs": [[d, c, a] for _, _, d, c, a in named], "reference": reference, "pending": False}
    )
    total = sum(leg[4] for leg in named)

    session.flush()
    refs = [r for leg in named for r in leg[:2]]
    books = lock(session, refs) if refs else {}
    deltas: dict[str, int] = defaultdict(int)
    for _, _, debit_name, credit_name, amount in named:
        deltas[debit_name] -= amount
        deltas[credit_name] += amount
    short = _overdrawn(books, deltas)
    if short is not None:
        return _replay_or_refuse(session, key, content, short)
    single, now = len(named) == 1, utcnow()
    row = {
        "id": new_id("tr"),
        "key": key,
        "kind": kind,
        "reference": reference,
        "amount_fen": total,
        "debit_account_id": books[named[0][2]].id if single else None,
        "credit_account_id": books[named[0][3]].id if single else None,
        "status": TransferStatus.POSTED,
        "meta": dict(metadata or {}),
        "content_hash": content,
        "created_at": now,
        "finished_at": now,
    }
    lines = []
    for _, _, debit_name, credit_name, amount in named:
        lines += [(books[debit_name], -amount), (books[credit_name], amount)]
    return write(session, row, chain(row, lines), books.values()) or _replay(session, key, content)


def _settle(session: Session, transfer_id: str, key: str, content: str, op: str, amount_fen: int | None) -> Transfer:
    _check_text(key, "key", 255)
    existing = _by_key(session, key)
    if existing is not None:
        return _same_or_conflict(existing, content)

    session.flush()
    pending = session.scalar(
        select(Transfer).where(Transfer.id == transfer_id).with_for_update().execution_options(populate_existing=True)
    )
    if pending is None or not pending.pending:
        raise NotFound("No such pending transfer.")
    twin = _by_key(session, key)  # a concurrent call with this key may have committed while we waited
    if twin is not None:
        return _same_or_conflict(twin, content)
    if pending.status != TransferStatus.PENDING:
        raise Conflict(f"The pending transfer is already {pending.status}.")
    now = utcnow()
    if op == "post" and pending.expires_at is not None and pending.expires_at <= now:
        raise Conflict("The pending transfer has expired.")
    amount = pending.amount_fen if amount_fen is None else amount_fen
    if amount > pending.amount_fen:
        raise invalid("amount_fen", f"Cannot post more than the pending {pending.amount_fen} fen.")
    books = lock_ids(session, [pending.debit_account_id, pending.credit_account_id])
    d, c = books[pending.debit_account_id], books[pending.credit_account_id]
    row = {
        "id": new_id("tr"),
        "key": key,
        "kind": pending.kind,
        "reference": pending.reference,
        "amount_fen": amount if op == "post" else pending.amount_fen,
        "debit_account_id": d.id,
        "credit_account_id": c.id,
        "pending_id": pending.id,
        "status": TransferStatus.POSTED if op == "post" else TransferStatus.VOIDED,
        "meta": dict(pending.meta or {}),
        "content_hash": content,
        "created_at": now,
        "finished_at": now,
    }
    d.pending_debits_fen -= pending.amount_fen
    c.pending_credits_fen -= pending.amount_fen
    entries = chain(row, [(d, -amount), (c, amount)]) if op == "post" and amount else []
    t = write(session, row, entries, [d, c])
    if t is None:
        return _replay(session, key, content)
    pending.status = TransferStatus.POSTED if op == "post" else TransferStatus.VOIDED
    pending.posted_fen = amount if op == "post" else 0
    pending.finished_at = now
    session.flush()
    return t


def post_pending(session: Session, transfer_id: str, amount_fen: int | None = None, *, key: str) -> Transfer:
    """Post a pending transfer, whole or in part (the rest is released). Returns the posting transfer."""
    if amount_fen is not None:
        _check_amount(amount_fen)
    content = _content_hash({"op": "post", "pending_id": transfer_id, "amount": amount_fen})
    return _settle(session, transfer_id, key, content, "post", amount_fen)


def void_pending(session: Session, transfer_id: str, *, key: str) -> Transfer:
    """Release a pending transfer's reservation. Returns the voiding transfer (no entries)."""
    content = _content_hash({"op": "void", "pending_id": transfer_id})
    return _settle(session, transfer_id, key, content, "void", None)


def expire_pending(session: Session, now: datetime | None = None, limit: int = 1000) -> int:
    """Release pending transfers whose expires_at has passed; returns how many. Safe to run concurrently."""
    now = _naive_utc(now) or utcnow()
    ids = list(
        session.scalars(
            select(Transfer.id)
            .where(Transfer.status == TransferStatus.PENDING, Transfer.expires_at <= now)
            .order_by(Transfer.expires_at)
            .limit(limit)
        )
    )
    expired = 0
    for transfer_id in ids:
        pending = session.scalar(
            select(Transfer)
            .where(Transfer.id == transfer_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if pending.status != TransferStatus.PENDING:
            continue  # posted or voided meanwhile
        books = lock_ids(session, [pending.debit_account_id, pending.credit_account_id])
        books[pending.debit_account_id].pending_debits_fen -= pending.amount_fen
        books[pending.credit_account_id].pending_credits_fen -= pending.amount_fen
        save(session, books.values())
        pending.status, pending.posted_fen, pending.finished_at = TransferStatus.EXPIRED, 0, now
        expired += 1
    session.flush()
    return expired
