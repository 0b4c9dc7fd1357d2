"""The books a transfer touches: account rows locked for update, and the one write that records a transfer.

Every function here works inside the caller's transaction and never commits. The touched account
rows are locked (SELECT ... FOR UPDATE, in id order, on PostgreSQL; SQLite transactions already
hold the write lock from BEGIN IMMEDIATE) and read as plain values (`Book`): the hot path reads
and writes rows with Core statements built once, binding values only.
"""

from __future__ import annotations

import json

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from db import insert_ignore
from storefront.ledger.accounts import AccountRef, account_name, new_account_row
from storefront.ledger.audit import entry_hash
from storefront.ledger.models import Account, Entry, Transfer


class Book:
    """A locked account row as plain values."""

    __slots__ = (
        "id",
        "name",
        "owner_type",
        "owner_id",
        "purpose",
        "bounded",
        "balance_fen",
        "pending_debits_fen",
        "pending_credits_fen",
        "entry_seq",
        "head_hash",
    )

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
_BOOK_COLUMNS = [_ACCOUNTS.c[name] for name in Book.__slots__]
_SAVE_BOOK = (
    _ACCOUNTS.update()
    .where(_ACCOUNTS.c.id == bindparam("b_id"))
    .values(
        balance_fen=bindparam("b_balance"),
        pending_debits_fen=bindparam("b_pending_debits"),
        pending_credits_fen=bindparam("b_pending_credits"),
        entry_seq=bindparam("b_seq"),
        head_hash=bindparam("b_head"),
    )
)

# Statements built once: the hot path only binds values (SQLAlchemy's compiled cache does the rest).
_LOCK_BY_NAME = (
    select(*_BOOK_COLUMNS)
    .where(_ACCOUNTS.c.name.in_(bindparam("names", expanding=True)))
    .order_by(_ACCOUNTS.c.id)
    .with_for_update()
)
_LOCK_BY_ID = (
    select(*_BOOK_COLUMNS)
    .where(_ACCOUNTS.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_ACCOUNTS.c.id)
    .with_for_update()
)
_CLAIM_SQLITE = sqlite.insert(_TRANSFERS).on_conflict_do_nothing(index_elements=["key"]).returning(_TRANSFERS.c.id)
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


def lock(session: Session, refs: list[AccountRef]) -> dict[str, Book]:
    """Lock every account in `refs` (creating missing ones), always in id order."""
    wanted = {account_name(ref): ref for ref in refs}
    connection = session.connection()
    found = {b.name: b for b in map(Book, connection.execute(_LOCK_BY_NAME, {"names": list(wanted)}))}
    missing = sorted(name for name in wanted if name not in found)
    if missing:
        # New rows get higher ids than any row locked above, so the id order still holds.
        insert_ignore(session, _ACCOUNTS, [new_account_row(wanted[n]) for n in missing], ["name"])
        found.update({b.name: b for b in map(Book, connection.execute(_LOCK_BY_NAME, {"names": missing}))})
    return found


def lock_ids(session: Session, ids: list[int]) -> dict[int, Book]:
    return {b.id: b for b in map(Book, session.connection().execute(_LOCK_BY_ID, {"ids": list(ids)}))}


def save(session: Session, books) -> None:
    """Write the locked rows' new totals and chain heads (outside `write`: the expiry sweep)."""
    session.connection().execute(_SAVE_BOOK, _save_params(books))
    _expire_held(session, books)


def _save_params(books) -> list[dict]:
    return [
        {
            "b_id": b.id,
            "b_balance": b.balance_fen,
            "b_pending_debits": b.pending_debits_fen,
            "b_pending_credits": b.pending_credits_fen,
            "b_seq": b.entry_seq,
            "b_head": b.head_hash,
        }
        for b in books
    ]


def _expire_held(session: Session, books) -> None:
    """Account objects the caller's session holds now have stale totals: reload them on next use."""
    for b in books:
        held = session.identity_map.get(identity_key(Account, b.id))
        if held is not None:
            session.expire(held)


def chain(transfer: dict, lines: list[tuple[Book, int]]) -> list[dict]:
    """Entries for `lines` (book, signed amount), each hash-chained onto its account; updates the books."""
    rows = []
    for book, amount in lines:
        book.entry_seq += 1
        book.balance_fen += amount
        digest = entry_hash(
            book.head_hash,
            book.name,
            book.entry_seq,
            transfer["id"],
            transfer["key"],
            transfer["kind"],
            transfer["reference"],
            amount,
            book.balance_fen,
            transfer["created_at"],
        )
        rows.append(
            {
                "account_id": book.id,
                "seq": book.entry_seq,
                "amount_fen": amount,
                "balance_after_fen": book.balance_fen,
                "prev_hash": book.head_hash,
                "hash": digest,
            }
        )
        book.head_hash = digest
    return rows


def write(session: Session, transfer: dict, entries: list[dict], books) -> Transfer | None:
    """Claim the key and write the transfer, its entries and the new account totals, or nothing.

    The key is claimed with INSERT ... ON CONFLICT DO NOTHING: when another transaction holds or has
    committed the key, nothing is written and None comes back (the caller answers with that transfer);
    no error is raised, so the caller's transaction stays usable without a SAVEPOINT.
    """
    row = {
        "pending": False,
        "pending_id": None,
        "posted_fen": None,
        "expires_at": None,
        "finished_at": None,
        "debit_account_id": None,
        "credit_account_id": None,
        "meta": {},
        **transfer,
    }
    params = {("metadata" if name == "meta" else name): value for name, value in row.items()}
    books = list(books)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        params["metadata"] = json.dumps(params["metadata"])
        params["entries"] = json.dumps(entries)
        params["book_ids"] = [b.id for b in books]
        params["books"] = json.dumps(
            [
                {
                    "id": b.id,
                    "balance_fen": b.balance_fen,
                    "entry_seq": b.entry_seq,
                    "pending_debits_fen": b.pending_debits_fen,
                    "head_hash": b.head_hash,
                    "pending_credits_fen": b.pending_credits_fen,
                }
                for b in books
            ]
        )
        if connection.execute(_WRITE_POSTGRES, params).first() is None:
            return None
    else:
        if connection.execute(_CLAIM_SQLITE, params).first() is None:
            return None
        if entries:
            connection.execute(
                _INSERT_ENTRIES, [{**e, "transfer_id": row["id"], "at": row["created_at"]} for e in entries]
            )
        if books:
            connection.execute(_SAVE_BOOK, _save_params(books))
    _expire_held(session, books)
    t = Transfer(**row)
    make_transient_to_detached(t)  # persistent without a flush: the row is already written
    session.add(t)
    return t
