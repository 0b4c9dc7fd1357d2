"""Money in from outside: a brand funds its budget from the platform's clearing account."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from errors import IdempotencyConflict
from storefront.ledger.accounts import CLEARING, AccountRef, account_name, brand_budget
from storefront.ledger.models import Account, Entry, LedgerKind, Transfer
from storefront.ledger.transfers import transfer


def deposit_to_brand(session: Session, brand_id: str, amount_fen: int, reference: str) -> Transfer:
    """Money in from outside: platform clearing -> the brand's budget, one deposit per reference."""
    try:
        return transfer(
            session,
            CLEARING,
            brand_budget(brand_id),
            amount_fen,
            key=f"deposit:{brand_id}:{reference}",
            kind=LedgerKind.DEPOSIT,
            reference=reference,
        )
    except IdempotencyConflict:
        raise IdempotencyConflict(
            "This reference was already used for a deposit of another amount.",
            fields={"reference": ["Already used for a deposit of another amount."]},
        ) from None


def deposited(session: Session, ref: AccountRef) -> int:
    """What deposits have credited to the account (the brand's total funding)."""
    stmt = (
        select(func.coalesce(func.sum(Entry.amount_fen), 0))
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .join(Account, Account.id == Entry.account_id)
        .where(Account.name == account_name(ref), Transfer.kind == LedgerKind.DEPOSIT)
    )
    return int(session.scalar(stmt))
