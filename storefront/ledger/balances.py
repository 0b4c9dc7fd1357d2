"""What owners see of their money: a store's balance and statement, a brand's budget."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pagination import keyset_page
from storefront.ledger.accounts import CURRENCY, accounts_of, brand_budget
from storefront.ledger.deposits import deposited
from storefront.ledger.models import Account, Entry, Transfer

STORE_PURPOSES = ("pending", "available", "in_transit", "paid_out")


def statement(session: Session, account_ids: list[int], limit: int, cursor: str | None):
    """Entries on the given accounts, newest first, one keyset page: ([(entry, transfer, account)], next_cursor)."""
    query = select(Entry).where(Entry.account_id.in_(account_ids or [-1]))
    entries, next_cursor = keyset_page(session, query, [Entry.id], limit, cursor)
    transfers = (
        {t.id: t for t in session.scalars(select(Transfer).where(Transfer.id.in_({e.transfer_id for e in entries})))}
        if entries
        else {}
    )
    accounts = (
        {a.id: a for a in session.scalars(select(Account).where(Account.id.in_({e.account_id for e in entries})))}
        if entries
        else {}
    )
    return [(e, transfers[e.transfer_id], accounts[e.account_id]) for e in entries], next_cursor


def store_balance(session: Session, store_id: str) -> dict:
    accounts = accounts_of(session, "store", store_id)
    figures = {f"{p}_fen": (accounts[p].balance_fen if p in accounts else 0) for p in STORE_PURPOSES}
    if "available" in accounts:
        figures["available_fen"] = accounts["available"].spendable_fen
    return {**figures, "currency": CURRENCY}


def store_statement(session: Session, store_id: str, limit: int, cursor: str | None) -> dict:
    """The store's entries, newest first: {items: [{id, at, kind, amount_fen, account, ...}], next_cursor}."""
    ids = [a.id for p, a in accounts_of(session, "store", store_id).items() if p in STORE_PURPOSES]
    rows, next_cursor = statement(session, ids, limit, cursor)
    return {
        "items": [
            {
                "id": str(e.id),
                "at": e.at,
                "kind": t.kind,
                "amount_fen": e.amount_fen,
                "account": a.purpose,
                "balance_after_fen": e.balance_after_fen,
                "reference": t.reference,
                "transfer_id": t.id,
            }
            for e, t, a in rows
        ],
        "next_cursor": next_cursor,
    }


def brand_balance(session: Session, brand_id: str) -> dict:
    ref = brand_budget(brand_id)
    found = accounts_of(session, "brand", brand_id).get("budget")
    posted, reserved = (found.balance_fen, found.pending_debits_fen) if found else (0, 0)
    return {
        "balance_fen": posted,
        "reserved_fen": reserved,
        "available_fen": posted - reserved,
        "deposited_fen": deposited(session, ref),
        "currency": CURRENCY,
    }
