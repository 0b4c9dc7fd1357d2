"""What owners see of their money: a store's balance and statement, a brand's budget."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from pagination import keyset_page
from storefront.ledger import settlement
from storefront.ledger.accounts import CURRENCY, AccountRef, account_name, accounts_of, brand_budget
from storefront.ledger.deposits import deposited
from storefront.ledger.models import Account, Entry, Transfer

STORE_PURPOSES = ("pending", "available", "in_transit", "paid_out")


def store_balance(session: Session, store_id: str) -> dict:
    accounts = accounts_of(session, "store", store_id)
    figures = {f"{p}_fen": (accounts[p].balance_fen if p in accounts else 0) for p in STORE_PURPOSES}
    if "available" in accounts:
        figures["available_fen"] = accounts["available"].spendable_fen
    coming = settlement.what_becomes_available(session, store_id)
    figures["held_fen"] = coming["held_fen"]
    figures["next_available_fen"], figures["next_available_at"] = coming["next_fen"], coming["next_at"]
    return {**figures, "currency": CURRENCY}


def consumer_balance(session: Session, consumer_id: str) -> dict:
    """A consumer's referral earnings, as a store's balance: pending, available (less open payout
    requests' holds), in transit, paid out, and the next settlement."""
    accounts = accounts_of(session, "consumer", consumer_id)
    figures = {f"{p}_fen": (accounts[p].balance_fen if p in accounts else 0) for p in STORE_PURPOSES}
    if "available" in accounts:
        figures["available_fen"] = accounts["available"].spendable_fen
    coming = settlement.what_becomes_available(session, consumer_id, "consumer")
    figures["next_available_fen"], figures["next_available_at"] = coming["next_fen"], coming["next_at"]
    return {**figures, "currency": CURRENCY}


def store_statement(session: Session, store_id: str, limit: int, cursor: str | None) -> dict:
    """The store's statement, newest first: one line per ledger transfer that touched its accounts
    (a settlement or a payout moves money between two of them and is still one line), with what it
    did to each: {items: [{id, at, kind, amount_fen, available_change_fen, pending_change_fen,
    in_transit_change_fen, paid_out_change_fen, reference, transfer_id}], next_cursor}.

    amount_fen is the change to the store's own money, available + pending: an order's commission
    is +X, a settlement 0 (pending -X, available +X), a payout request -X (available to in transit),
    a paid payout 0 (in transit to paid out: the money was already off the balance), a failed one +X.
    The page's cursor is the line's first entry id (a line's entries are written together)."""
    purposes = {a.id: p for p, a in accounts_of(session, "store", store_id).items() if p in STORE_PURPOSES}
    ids = list(purposes)
    earlier = aliased(Entry)
    first_of_its_transfer = ~exists().where(
        earlier.transfer_id == Entry.transfer_id, earlier.account_id.in_(ids or [-1]), earlier.id < Entry.id
    )
    query = select(Entry).where(Entry.account_id.in_(ids or [-1]), first_of_its_transfer)
    firsts, next_cursor = keyset_page(session, query, [Entry.id], limit, cursor)
    transfer_ids = [e.transfer_id for e in firsts]
    changes: dict[str, dict[str, int]] = {t: dict.fromkeys(STORE_PURPOSES, 0) for t in transfer_ids}
    transfers: dict[str, Transfer] = {}
    if firsts:
        legs = select(Entry.transfer_id, Entry.account_id, Entry.amount_fen).where(
            Entry.transfer_id.in_(transfer_ids), Entry.account_id.in_(ids)
        )
        for transfer_id, account_id, amount in session.execute(legs):
            changes[transfer_id][purposes[account_id]] += amount
        transfers = {t.id: t for t in session.scalars(select(Transfer).where(Transfer.id.in_(transfer_ids)))}
    items = []
    for e in firsts:
        t, change = transfers[e.transfer_id], changes[e.transfer_id]
        items.append(
            {
                "id": t.id,
                "at": e.at,
                "kind": t.kind,
                "amount_fen": change["available"] + change["pending"],
                **{f"{p}_change_fen": change[p] for p in STORE_PURPOSES},
                "reference": t.reference,
                "transfer_id": t.id,
            }
        )
    return {"items": items, "next_cursor": next_cursor}


def brand_balance(session: Session, brand_id: str) -> dict:
    """The brand's own accounts: its budget (reserved_fen here is only what pending transfers hold on
    it; loyalty.campaigns.brand_balance adds what its campaigns hold) and its order revenue."""
    own = accounts_of(session, "brand", brand_id)
    budget, revenue = own.get("budget"), own.get("revenue")
    posted, reserved = (budget.balance_fen, budget.pending_debits_fen) if budget else (0, 0)
    return {
        "budget_fen": posted - reserved,
        "reserved_fen": reserved,
        "revenue_fen": revenue.balance_fen if revenue else 0,
        "balance_fen": posted,
        "available_fen": posted - reserved,
        "deposited_fen": deposited(session, brand_budget(brand_id)),
        "currency": CURRENCY,
    }


def posted_balances(session: Session, refs: list[AccountRef]) -> dict[AccountRef, int]:
    """Posted balances of many accounts in one query: {ref: fen} (0 for an account not opened yet)."""
    names = {account_name(ref): ref for ref in refs}
    found = session.execute(select(Account.name, Account.balance_fen).where(Account.name.in_(names or [""])))
    return {**dict.fromkeys(refs, 0), **{names[name]: int(fen) for name, fen in found}}
