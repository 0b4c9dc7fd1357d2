"""The double-entry ledger: the only code that writes entries.

An account is named by (owner_type, owner_id, purpose): ("brand", id, "budget"), ("store", id,
"available"), ("platform", None, "clearing"), ... Moving money from *debit* to *credit* lowers the
debit account's balance and raises the credit account's, so the sum over all accounts is always
zero; the platform clearing account, the outside world, goes negative as money comes in.

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
  gets the winner's transfer. A replay is answered even if the money has been spent since. `expires_at` and `metadata` are not part of
  the content: the first write wins (a retry that recomputes "now + 1 day" is still a replay).
- Balance bounds: the touched account rows are locked (SELECT ... FOR UPDATE, in id order, on
  PostgreSQL; SQLite transactions already hold the write lock from BEGIN IMMEDIATE), the running
  totals are read under that lock, and a CHECK constraint refuses a negative spendable balance on
  a bounded account as a second, independent guard.
- Running totals: `balance_fen` on the account row is updated in the same transaction as the
  entries it sums; every entry also records `balance_after_fen`. `verify` re-adds them.
- Tamper evidence: entries form one hash chain per account (seq, prev_hash, hash = SHA-256 over
  the previous hash and the entry's content, including its transfer's key, kind and reference),
  so locking stays local to the accounts a transfer touches. The account row keeps the chain head.
- Two-phase: a pending transfer writes no entries; it reserves the amount on the debit account
  (`pending_debits_fen`, which lowers what can be spent) until it is posted (whole or part: the
  rest is released), voided, or expired by the sweep.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import datetime, timezone

from sqlalchemy import bindparam, func, or_, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from db import insert_ignore, new_id, utcnow
from errors import Conflict, IdempotencyConflict, InsufficientFunds, NotFound, invalid
from storefront.models import GENESIS_HASH, Account, Entry, Transfer

AccountRef = tuple[str, str | None, str]

CURRENCY = "CNY"
PLATFORM = "platform"
UNBOUNDED_OWNER_TYPES = frozenset({PLATFORM})   # the platform's books may go negative; nobody else's
MAX_AMOUNT_FEN = 10**15

__all__ = ["AccountRef", "account", "transfer", "transfer_many", "post_pending", "void_pending", "expire_pending",
           "balance", "spendable", "verify", "account_name", "entry_hash", "statement", "CLEARING", "brand_budget",
           "store_account"]


# --- accounts --------------------------------------------------------------------------------

def account_name(ref: AccountRef) -> str:
    """The unique string form of an account reference: "store:st_x:available", "platform::clearing"."""
    if not (isinstance(ref, tuple) and len(ref) == 3):
        raise TypeError(f"an account reference is (owner_type, owner_id, purpose), not {ref!r}")
    owner_type, owner_id, purpose = ref
    for part, limit in ((owner_type, 16), (purpose, 32)):
        if not isinstance(part, str) or not part or ":" in part or len(part) > limit:
            raise ValueError(f"bad account reference {ref!r}")
    if owner_type == PLATFORM:
        if owner_id is not None:
            raise ValueError("platform accounts have no owner id")
    elif not isinstance(owner_id, str) or not owner_id or len(owner_id) > 64:
        raise ValueError(f"account {ref!r} needs an owner id")
    return f"{owner_type}:{owner_id or ''}:{purpose}"


def _new_account_row(ref: AccountRef, bounded: bool | None = None) -> dict:
    owner_type, owner_id, purpose = ref
    return {"name": account_name(ref), "owner_type": owner_type, "owner_id": owner_id, "purpose": purpose,
            "currency": CURRENCY, "bounded": (owner_type not in UNBOUNDED_OWNER_TYPES) if bounded is None else bounded,
            "balance_fen": 0, "pending_debits_fen": 0, "pending_credits_fen": 0, "entry_seq": 0,
            "head_hash": GENESIS_HASH, "created_at": utcnow()}


def account(session: Session, owner_type: str, owner_id: str | None, purpose: str, *,
            bounded: bool | None = None) -> Account:
    """Get or create an account (race-safe: INSERT ... ON CONFLICT DO NOTHING, then read).

    Bounded (never negative) is fixed at creation: every account except the platform's, unless
    `bounded` says otherwise.
    """
    ref = (owner_type, owner_id, purpose)
    name = account_name(ref)
    found = session.scalar(select(Account).where(Account.name == name))
    if found is None:
        insert_ignore(session, Account.__table__, [_new_account_row(ref, bounded)], ["name"])
        found = session.scalar(select(Account).where(Account.name == name))
    return found


class _Book:
    """A locked account row as plain values: the hot path reads and writes rows with Core statements."""
    __slots__ = ("id", "name", "owner_type", "owner_id", "purpose", "bounded", "balance_fen", "pending_debits_fen",
                 "pending_credits_fen", "entry_seq", "head_hash")

    def __init__(self, row):
        for column, value in zip(self.__slots__, row):
            setattr(self, column, value)

    @property
    def ref(self) -> AccountRef:
        return (self.owner_type, self.owner_id, self.purpose)

    @property
    def spendable_fen(self) -> int:
        return self.balance_fen - self.pending_debits_fen


_ACCOUNTS = Account.__table__
_TRANSFERS = Transfer.__table__
_ENTRIES = Entry.__table__
_BOOK_COLUMNS = [_ACCOUNTS.c[name] for name in _Book.__slots__]
_SAVE_BOOK = (_ACCOUNTS.update().where(_ACCOUNTS.c.id == bindparam("b_id"))
              .values(balance_fen=bindparam("b_balance"), pending_debits_fen=bindparam("b_pending_debits"),
                      pending_credits_fen=bindparam("b_pending_credits"), entry_seq=bindparam("b_seq"),
                      head_hash=bindparam("b_head")))

# Statements built once: the hot path only binds values (SQLAlchemy's compiled cache does the rest).
_LOCK_BY_NAME = (select(*_BOOK_COLUMNS).where(_ACCOUNTS.c.name.in_(bindparam("names", expanding=True)))
                 .order_by(_ACCOUNTS.c.id).with_for_update())
_LOCK_BY_ID = (select(*_BOOK_COLUMNS).where(_ACCOUNTS.c.id.in_(bindparam("ids", expanding=True)))
               .order_by(_ACCOUNTS.c.id).with_for_update())
_CLAIM_SQLITE = (sqlite.insert(_TRANSFERS).on_conflict_do_nothing(index_elements=["key"])
                 .returning(_TRANSFERS.c.id))
_INSERT_ENTRIES = _ENTRIES.insert()
# PostgreSQL: the transfer row, its entries and the account totals in one statement (one round trip).
# The key's unique index decides a race: ON CONFLICT DO NOTHING inserts nothing, and then neither do
# the other two parts, which only act FROM `claimed`.
_WRITE_POSTGRES = text("""
WITH claimed AS (
    INSERT INTO ledger_transfers (id, key, kind, reference, amount_fen, debit_account_id, credit_account_id,
                                  status, pending, pending_id, posted_fen, expires_at, metadata, content_hash,
                                  created_at, finished_at)
    VALUES (:id, :key, :kind, :reference, :amount_fen, :debit_account_id, :credit_account_id, :status, :pending,
            :pending_id, :posted_fen, :expires_at, CAST(:metadata AS JSON), :content_hash, :created_at,
            :finished_at)
    ON CONFLICT (key) DO NOTHING
    RETURNING id
), entries AS (
    INSERT INTO ledger_entries (transfer_id, account_id, seq, amount_fen, balance_after_fen, at, prev_hash, hash)
    SELECT claimed.id, e.account_id, e.seq, e.amount_fen, e.balance_after_fen, :created_at, e.prev_hash, e.hash
    FROM claimed, jsonb_to_recordset(CAST(:entries AS JSONB)) AS e(account_id bigint, seq bigint, amount_fen bigint,
                                                                  balance_after_fen bigint, prev_hash text, hash text)
), books AS (
    UPDATE ledger_accounts AS a
    SET balance_fen = b.balance_fen, pending_debits_fen = b.pending_debits_fen,
        pending_credits_fen = b.pending_credits_fen, entry_seq = b.entry_seq, head_hash = b.head_hash
    FROM claimed, jsonb_to_recordset(CAST(:books AS JSONB)) AS b(id bigint, balance_fen bigint,
                                                                pending_debits_fen bigint, pending_credits_fen bigint,
                                                                entry_seq bigint, head_hash text)
    WHERE a.id = b.id AND a.id = ANY(CAST(:book_ids AS BIGINT[]))   -- an index scan, not a join over all accounts
)
SELECT id FROM claimed
""")


def _lock_accounts(session: Session, refs: list[AccountRef]) -> dict[str, _Book]:
    """Lock every account in `refs` (creating missing ones), always in id order."""
    wanted = {account_name(ref): ref for ref in refs}
    connection = session.connection()
    found = {b.name: b for b in map(_Book, connection.execute(_LOCK_BY_NAME, {"names": list(wanted)}))}
    missing = sorted(name for name in wanted if name not in found)
    if missing:
        # New rows get higher ids than any row locked above, so the id order still holds.
        insert_ignore(session, _ACCOUNTS, [_new_account_row(wanted[n]) for n in missing], ["name"])
        found.update({b.name: b for b in map(_Book, connection.execute(_LOCK_BY_NAME, {"names": missing}))})
    return found


def _lock_account_ids(session: Session, ids: list[int]) -> dict[int, _Book]:
    return {b.id: b for b in map(_Book, session.connection().execute(_LOCK_BY_ID, {"ids": list(ids)}))}


def _save(session: Session, books) -> None:
    """Write the locked rows' new totals and chain heads (outside `_write`: the expiry sweep)."""
    session.connection().execute(_SAVE_BOOK, _save_params(books))
    _expire_held(session, books)


def _save_params(books) -> list[dict]:
    return [{"b_id": b.id, "b_balance": b.balance_fen, "b_pending_debits": b.pending_debits_fen,
             "b_pending_credits": b.pending_credits_fen, "b_seq": b.entry_seq, "b_head": b.head_hash} for b in books]


def _expire_held(session: Session, books) -> None:
    """Account objects the caller's session holds now have stale totals: reload them on next use."""
    for b in books:
        held = session.identity_map.get(identity_key(Account, b.id))
        if held is not None:
            session.expire(held)


def balance(session: Session, ref: AccountRef) -> int:
    """Posted balance (the sum of the account's entries); 0 for an account that does not exist yet."""
    value = session.scalar(select(Account.balance_fen).where(Account.name == account_name(ref)))
    return int(value or 0)


def spendable(session: Session, ref: AccountRef) -> int:
    """Posted balance less what pending transfers have reserved on it."""
    row = session.execute(select(Account.balance_fen, Account.pending_debits_fen)
                          .where(Account.name == account_name(ref))).first()
    return 0 if row is None else int(row[0] - row[1])


def accounts_of(session: Session, owner_type: str, owner_id: str | None) -> dict[str, Account]:
    """{purpose: account} for one owner (only the accounts that exist)."""
    stmt = select(Account).where(Account.owner_type == owner_type, Account.owner_id == owner_id)
    return {a.purpose: a for a in session.scalars(stmt)}


# --- hashing ---------------------------------------------------------------------------------

def _timestamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")


def entry_hash(prev_hash: str, account: str, seq: int, transfer_id: str, key: str, kind: str,
               reference: str | None, amount_fen: int, balance_after_fen: int, at: datetime) -> str:
    payload = json.dumps([prev_hash, account, int(seq), transfer_id, key, kind, reference, int(amount_fen),
                          int(balance_after_fen), _timestamp(at)], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


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
    return value.astimezone(timezone.utc).replace(tzinfo=None)


# --- writing ---------------------------------------------------------------------------------

def _by_key(session: Session, key: str) -> Transfer | None:
    return session.scalar(select(Transfer).where(Transfer.key == key).execution_options(populate_existing=True))


def _same_or_conflict(existing: Transfer, content_hash: str) -> Transfer:
    if existing.content_hash != content_hash:
        raise IdempotencyConflict(f"The key {existing.key!r} was already used for a different transfer.")
    return existing


def _chain(transfer: dict, lines: list[tuple[_Book, int]]) -> list[dict]:
    """Entries for `lines` (book, signed amount), each hash-chained onto its account; updates the books."""
    rows = []
    for book, amount in lines:
        book.entry_seq += 1
        book.balance_fen += amount
        digest = entry_hash(book.head_hash, book.name, book.entry_seq, transfer["id"], transfer["key"],
                            transfer["kind"], transfer["reference"], amount, book.balance_fen, transfer["created_at"])
        rows.append({"account_id": book.id, "seq": book.entry_seq, "amount_fen": amount,
                     "balance_after_fen": book.balance_fen, "prev_hash": book.head_hash, "hash": digest})
        book.head_hash = digest
    return rows


def _write(session: Session, transfer: dict, entries: list[dict], books) -> Transfer | None:
    """Claim the key and write the transfer, its entries and the new account totals, or nothing.

    The key is claimed with INSERT ... ON CONFLICT DO NOTHING: when another transaction holds or has
    committed the key, nothing is written and None comes back (the caller answers with that transfer);
    no error is raised, so the caller's transaction stays usable without a SAVEPOINT.
    """
    row = {"pending": False, "pending_id": None, "posted_fen": None, "expires_at": None, "finished_at": None,
           "debit_account_id": None, "credit_account_id": None, "meta": {}, **transfer}
    params = {("metadata" if name == "meta" else name): value for name, value in row.items()}
    books = list(books)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        params["metadata"] = json.dumps(params["metadata"])
        params["entries"] = json.dumps(entries)
        params["book_ids"] = [b.id for b in books]
        params["books"] = json.dumps([{"id": b.id, "balance_fen": b.balance_fen, "entry_seq": b.entry_seq,
                                       "pending_debits_fen": b.pending_debits_fen, "head_hash": b.head_hash,
                                       "pending_credits_fen": b.pending_credits_fen} for b in books])
        if connection.execute(_WRITE_POSTGRES, params).first() is None:
            return None
    else:
        if connection.execute(_CLAIM_SQLITE, params).first() is None:
            return None
        if entries:
            connection.execute(_INSERT_ENTRIES, [{**e, "transfer_id": row["id"], "at": row["created_at"]}
                                                 for e in entries])
        if books:
            connection.execute(_SAVE_BOOK, _save_params(books))
    _expire_held(session, books)
    t = Transfer(**row)
    make_transient_to_detached(t)   # persistent without a flush: the row is already written
    session.add(t)
    return t


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


def transfer(session: Session, debit: AccountRef, credit: AccountRef, amount_fen: int, *, key: str, kind: str,
             reference: str | None = None, pending: bool = False, expires_at: datetime | None = None,
             metadata: dict | None = None) -> Transfer:
    """Move `amount_fen` from `debit` to `credit`, or with pending=True reserve it for a later post/void."""
    if not pending:
        return transfer_many(session, [(debit, credit, amount_fen)], key=key, kind=kind, reference=reference,
                             metadata=metadata)
    _check_amount(amount_fen)
    _check_text(key, "key", 255)
    _check_text(kind, "kind", 32)
    _check_text(reference, "reference", 255, required=False)
    debit_name, credit_name = account_name(debit), account_name(credit)
    if debit_name == credit_name:
        raise invalid("credit", "A transfer needs two different accounts.")
    content = _content_hash({"kind": kind, "legs": [[debit_name, credit_name, amount_fen]],
                             "reference": reference, "pending": True})

    session.flush()   # the caller's pending ORM changes go first, as autoflush would
    books = _lock_accounts(session, [debit, credit])
    d, c = books[debit_name], books[credit_name]
    short = _overdrawn(books, {debit_name: -amount_fen})
    if short is not None:
        return _replay_or_refuse(session, key, content, short)
    d.pending_debits_fen += amount_fen
    c.pending_credits_fen += amount_fen
    row = {"id": new_id("tr"), "key": key, "kind": kind, "reference": reference, "amount_fen": amount_fen,
           "debit_account_id": d.id, "credit_account_id": c.id, "status": "pending", "pending": True,
           "expires_at": _naive_utc(expires_at), "meta": dict(metadata or {}), "content_hash": content,
           "created_at": utcnow()}
    return _write(session, row, [], [d, c]) or _replay(session, key, content)


def transfer_many(session: Session, legs: list[tuple[AccountRef, AccountRef, int]], *, key: str, kind: str,
                  reference: str | None = None, metadata: dict | None = None) -> Transfer:
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
    content = _content_hash({"kind": kind, "legs": [[d, c, a] for _, _, d, c, a in named],
                             "reference": reference, "pending": False})
    total = sum(leg[4] for leg in named)

    session.flush()
    refs = [r for leg in named for r in leg[:2]]
    books = _lock_accounts(session, refs) if refs else {}
    deltas: dict[str, int] = defaultdict(int)
    for _, _, debit_name, credit_name, amount in named:
        deltas[debit_name] -= amount
        deltas[credit_name] += amount
    short = _overdrawn(books, deltas)
    if short is not None:
        return _replay_or_refuse(session, key, content, short)
    single, now = len(named) == 1, utcnow()
    row = {"id": new_id("tr"), "key": key, "kind": kind, "reference": reference, "amount_fen": total,
           "debit_account_id": books[named[0][2]].id if single else None,
           "credit_account_id": books[named[0][3]].id if single else None, "status": "posted",
           "meta": dict(metadata or {}), "content_hash": content, "created_at": now, "finished_at": now}
    lines = []
    for _, _, debit_name, credit_name, amount in named:
        lines += [(books[debit_name], -amount), (books[credit_name], amount)]
    return _write(session, row, _chain(row, lines), books.values()) or _replay(session, key, content)


def _settle(session: Session, transfer_id: str, key: str, content: str, op: str, amount_fen: int | None) -> Transfer:
    _check_text(key, "key", 255)
    existing = _by_key(session, key)
    if existing is not None:
        return _same_or_conflict(existing, content)

    session.flush()
    pending = session.scalar(select(Transfer).where(Transfer.id == transfer_id).with_for_update()
                             .execution_options(populate_existing=True))
    if pending is None or not pending.pending:
        raise NotFound("No such pending transfer.")
    twin = _by_key(session, key)   # a concurrent call with this key may have committed while we waited
    if twin is not None:
        return _same_or_conflict(twin, content)
    if pending.status != "pending":
        raise Conflict(f"The pending transfer is already {pending.status}.")
    now = utcnow()
    if op == "post" and pending.expires_at is not None and pending.expires_at <= now:
        raise Conflict("The pending transfer has expired.")
    amount = pending.amount_fen if amount_fen is None else amount_fen
    if amount > pending.amount_fen:
        raise invalid("amount_fen", f"Cannot post more than the pending {pending.amount_fen} fen.")
    books = _lock_account_ids(session, [pending.debit_account_id, pending.credit_account_id])
    d, c = books[pending.debit_account_id], books[pending.credit_account_id]
    row = {"id": new_id("tr"), "key": key, "kind": pending.kind, "reference": pending.reference,
           "amount_fen": amount if op == "post" else pending.amount_fen, "debit_account_id": d.id,
           "credit_account_id": c.id, "status": "posted" if op == "post" else "voided", "pending_id": pending.id,
           "meta": dict(pending.meta or {}), "content_hash": content, "created_at": now, "finished_at": now}
    d.pending_debits_fen -= pending.amount_fen
    c.pending_credits_fen -= pending.amount_fen
    entries = _chain(row, [(d, -amount), (c, amount)]) if op == "post" and amount else []
    t = _write(session, row, entries, [d, c])
    if t is None:
        return _replay(session, key, content)
    pending.status = "posted" if op == "post" else "voided"
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
    ids = list(session.scalars(select(Transfer.id).where(Transfer.status == "pending", Transfer.expires_at <= now)
                               .order_by(Transfer.expires_at).limit(limit)))
    expired = 0
    for transfer_id in ids:
        pending = session.scalar(select(Transfer).where(Transfer.id == transfer_id).with_for_update()
                                 .execution_options(populate_existing=True))
        if pending.status != "pending":
            continue   # posted or voided meanwhile
        books = _lock_account_ids(session, [pending.debit_account_id, pending.credit_account_id])
        books[pending.debit_account_id].pending_debits_fen -= pending.amount_fen
        books[pending.credit_account_id].pending_credits_fen -= pending.amount_fen
        _save(session, books.values())
        pending.status, pending.posted_fen, pending.finished_at = "expired", 0, now
        expired += 1
    session.flush()
    return expired


# --- owners' money ------------------------------------------------------------------------------

CLEARING: AccountRef = (PLATFORM, None, "clearing")   # the outside world: payers, payees, providers


def brand_budget(brand_id: str) -> AccountRef:
    return ("brand", brand_id, "budget")


def store_account(store_id: str, purpose: str) -> AccountRef:
    """A store's pending, available, in_transit or paid_out account."""
    return ("store", store_id, purpose)


def deposit_to_brand(session: Session, brand_id: str, amount_fen: int, reference: str) -> Transfer:
    """Money in from outside: platform clearing -> the brand's budget, one deposit per reference."""
    try:
        return transfer(session, (PLATFORM, None, "clearing"), brand_budget(brand_id), amount_fen,
                        key=f"deposit:{brand_id}:{reference}", kind="deposit", reference=reference)
    except IdempotencyConflict:
        raise IdempotencyConflict("This reference was already used for a deposit of another amount.",
                                  fields={"reference": ["Already used for a deposit of another amount."]})


def deposited(session: Session, ref: AccountRef) -> int:
    """What deposits have credited to the account (the brand's total funding)."""
    stmt = (select(func.coalesce(func.sum(Entry.amount_fen), 0)).join(Transfer, Transfer.id == Entry.transfer_id)
            .join(Account, Account.id == Entry.account_id)
            .where(Account.name == account_name(ref), Transfer.kind == "deposit"))
    return int(session.scalar(stmt))


# --- reading ---------------------------------------------------------------------------------

def statement(session: Session, account_ids: list[int], limit: int, cursor: str | None):
    """Entries on the given accounts, newest first, one keyset page: ([(entry, transfer, account)], next_cursor)."""
    from pagination import keyset_page

    query = select(Entry).where(Entry.account_id.in_(account_ids or [-1]))
    entries, next_cursor = keyset_page(session, query, [Entry.id], limit, cursor, lambda e: [e.id])
    transfers = {t.id: t for t in session.scalars(
        select(Transfer).where(Transfer.id.in_({e.transfer_id for e in entries})))} if entries else {}
    accounts = {a.id: a for a in session.scalars(
        select(Account).where(Account.id.in_({e.account_id for e in entries})))} if entries else {}
    return [(e, transfers[e.transfer_id], accounts[e.account_id]) for e in entries], next_cursor


def verify(session: Session, accounts: list[AccountRef] | None = None) -> list[str]:
    """Re-walk the hash chains and re-add the books; [] when everything holds.

    Per account (all, or just `accounts`): sequence, prev_hash and hash of every entry, running
    balance after each entry, the account's total and chain head, its pending reservations, and
    the bound. Every transfer's entries sum to zero (with `accounts`: the transfers touching them),
    and all balances, globally, sum to zero.
    Each problem names the first broken entry id of its account (or the transfer / account).
    """
    problems: list[str] = []
    account_query = select(Account).order_by(Account.id)
    if accounts is not None:
        account_query = account_query.where(Account.name.in_([account_name(r) for r in accounts]))
    books = {a.id: a for a in session.scalars(account_query.execution_options(populate_existing=True))}

    rows = (select(Entry.id, Entry.account_id, Entry.seq, Entry.amount_fen, Entry.balance_after_fen, Entry.at,
                   Entry.prev_hash, Entry.hash, Entry.transfer_id, Transfer.key, Transfer.kind, Transfer.reference)
            .join(Transfer, Transfer.id == Entry.transfer_id)
            .order_by(Entry.account_id, Entry.seq))
    if accounts is not None:
        rows = rows.where(Entry.account_id.in_(list(books) or [-1]))

    walked: dict[int, tuple[int, str, int, int | None]] = {}   # account id -> (seq, head, sum, last entry id)
    broken: set[int] = set()
    for row in session.execute(rows.execution_options(yield_per=5000)):
        acc = books.get(row.account_id)
        if acc is None:
            problems.append(f"entry {row.id}: belongs to no account ({row.account_id})")
            continue
        if row.account_id in broken:
            continue
        seq, head, total, _ = walked.get(row.account_id, (0, GENESIS_HASH, 0, None))
        total += row.amount_fen
        where = f"entry {row.id} on {acc.name}"
        if row.seq != seq + 1:
            problem = f"{where}: sequence {row.seq} follows {seq} (an entry is missing or was inserted)"
        elif row.prev_hash != head:
            problem = f"{where}: prev_hash does not match the entry before it (chain broken)"
        elif entry_hash(head, acc.name, row.seq, row.transfer_id, row.key, row.kind, row.reference, row.amount_fen,
                        row.balance_after_fen, row.at) != row.hash:
            problem = f"{where}: hash mismatch (the entry or its transfer was altered)"
        elif row.balance_after_fen != total:
            problem = f"{where}: balance_after {row.balance_after_fen} but the entries add up to {total}"
        else:
            walked[row.account_id] = (row.seq, row.hash, total, row.id)
            continue
        problems.append(problem)
        broken.add(row.account_id)

    open_pending = select(Transfer.debit_account_id, Transfer.credit_account_id, Transfer.amount_fen).where(
        Transfer.status == "pending")
    if accounts is not None:
        open_pending = open_pending.where(or_(Transfer.debit_account_id.in_(list(books) or [-1]),
                                              Transfer.credit_account_id.in_(list(books) or [-1])))
    reserved_debits: dict[int, int] = defaultdict(int)
    reserved_credits: dict[int, int] = defaultdict(int)
    for debit_id, credit_id, amount in session.execute(open_pending):
        reserved_debits[debit_id] += amount
        reserved_credits[credit_id] += amount
    for acc in books.values():
        if acc.id in broken:
            continue
        seq, head, total, last = walked.get(acc.id, (0, GENESIS_HASH, 0, None))
        if total != acc.balance_fen:
            problems.append(f"account {acc.name}: balance {acc.balance_fen} but its entries add up to {total}")
        if seq != acc.entry_seq or head != acc.head_hash:
            problems.append(f"account {acc.name}: chain head is not its last entry ({last}); entries after it "
                            f"are missing or the head was altered")
        if int(reserved_debits.get(acc.id) or 0) != acc.pending_debits_fen \
                or int(reserved_credits.get(acc.id) or 0) != acc.pending_credits_fen:
            problems.append(f"account {acc.name}: pending totals do not match its open pending transfers")
        if acc.bounded and acc.balance_fen - acc.pending_debits_fen < 0:
            problems.append(f"account {acc.name}: bounded account is negative ({acc.spendable_fen})")

    unbalanced = select(Entry.transfer_id, func.sum(Entry.amount_fen)).group_by(Entry.transfer_id).having(
        func.sum(Entry.amount_fen) != 0)
    if accounts is not None:
        unbalanced = unbalanced.where(Entry.transfer_id.in_(
            select(Entry.transfer_id).where(Entry.account_id.in_(list(books) or [-1])).scalar_subquery()))
    for transfer_id, total in session.execute(unbalanced):
        problems.append(f"transfer {transfer_id}: entries add up to {total}, not 0")
    total_balance = int(session.scalar(select(func.coalesce(func.sum(Account.balance_fen), 0))))
    if total_balance != 0:
        problems.append(f"ledger: account balances add up to {total_balance}, not 0")
    return problems
