"""Ledger accounts: how they are named, found or created, and what they hold.

An account is named by (owner_type, owner_id, purpose): ("brand", id, "budget"), ("store", id,
"available"), ("platform", None, "clearing"), ... Moving money from *debit* to *credit* lowers the
debit account's balance and raises the credit account's, so the sum over all accounts is always
zero; the platform clearing account, the outside world, goes negative as money comes in.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import insert_ignore, utcnow
from storefront.ledger.models import GENESIS_HASH, Account

AccountRef = tuple[str, str | None, str]

CURRENCY = "CNY"
PLATFORM = "platform"
UNBOUNDED_OWNER_TYPES = frozenset({PLATFORM})  # the platform's books may go negative; nobody else's

CLEARING: AccountRef = (PLATFORM, None, "clearing")  # the outside world: payers, payees, providers


def brand_budget(brand_id: str) -> AccountRef:
    return ("brand", brand_id, "budget")


def store_account(store_id: str, purpose: str) -> AccountRef:
    """A store's pending, available, in_transit or paid_out account."""
    return ("store", store_id, purpose)


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


def new_account_row(ref: AccountRef, bounded: bool | None = None) -> dict:
    """A fresh account's row: bounded (never negative) unless its owner type is the platform's."""
    owner_type, owner_id, purpose = ref
    return {
        "name": account_name(ref),
        "owner_type": owner_type,
        "owner_id": owner_id,
        "purpose": purpose,
        "currency": CURRENCY,
        "bounded": (owner_type not in UNBOUNDED_OWNER_TYPES) if bounded is None else bounded,
        "balance_fen": 0,
        "pending_debits_fen": 0,
        "pending_credits_fen": 0,
        "entry_seq": 0,
        "head_hash": GENESIS_HASH,
        "created_at": utcnow(),
    }


def account(
    session: Session, owner_type: str, owner_id: str | None, purpose: str, *, bounded: bool | None = None
) -> Account:
    """Get or create an account (race-safe: INSERT ... ON CONFLICT DO NOTHING, then read).

    Bounded (never negative) is fixed at creation: every account except the platform's, unless
    `bounded` says otherwise.
    """
    ref = (owner_type, owner_id, purpose)
    name = account_name(ref)
    found = session.scalar(select(Account).where(Account.name == name))
    if found is None:
        insert_ignore(session, Account.__table__, [new_account_row(ref, bounded)], ["name"])
        found = session.scalar(select(Account).where(Account.name == name))
    return found


def balance(session: Session, ref: AccountRef) -> int:
    """Posted balance (the sum of the account's entries); 0 for an account that does not exist yet."""
    value = session.scalar(select(Account.balance_fen).where(Account.name == account_name(ref)))
    return int(value or 0)


def spendable(session: Session, ref: AccountRef) -> int:
    """Posted balance less what pending transfers have reserved on it."""
    row = session.execute(
        select(Account.balance_fen, Account.pending_debits_fen).where(Account.name == account_name(ref))
    ).first()
    return 0 if row is None else int(row[0] - row[1])


def accounts_of(session: Session, owner_type: str, owner_id: str | None) -> dict[str, Account]:
    """{purpose: account} for one owner (only the accounts that exist)."""
    stmt = select(Account).where(Account.owner_type == owner_type, Account.owner_id == owner_id)
    return {a.purpose: a for a in session.scalars(stmt)}
