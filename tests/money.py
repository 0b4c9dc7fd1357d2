"""Test helpers for money: give stores money through the ledger, read and check it (deposits through
the API: tests.factories.deposit).

Until orders and coupons move money to stores, a store gets money the way later issues will
give it: a brand deposit, then a ledger transfer from the brand's budget to the store.
"""

from __future__ import annotations

import itertools

from sqlalchemy import text

import db
from storefront.ledger import accounts, audit, deposits, transfers

_seq = itertools.count(1)


def give_store(app, store_id: str, available_fen: int = 0, pending_fen: int = 0, brand_id: str = "br_testfunder"):
    """Deposit into a brand's budget and pay the store from it (available and/or pending)."""
    n = next(_seq)
    with db.session_scope(app) as session:
        deposits.deposit_to_brand(session, brand_id, available_fen + pending_fen, f"test-funding-{n}")
        legs = [
            (accounts.brand_budget(brand_id), ("store", store_id, "available"), available_fen),
            (accounts.brand_budget(brand_id), ("store", store_id, "pending"), pending_fen),
        ]
        transfers.transfer_many(
            session, legs, key=f"test-give-{store_id}-{n}", kind="coupon_reimbursement", reference=f"test-{n}"
        )


def store_balance(app, store_id: str, purpose: str) -> int:
    with db.session_scope(app) as session:
        return accounts.balance(session, ("store", store_id, purpose))


def verify(app) -> list[str]:
    with db.session_scope(app) as session:
        return audit.verify(session)


def tamper(app, sql: str, **params) -> None:
    """Change ledger rows behind the ledger's back, as someone with database access could."""
    engine = db.engine(app)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only"))
            conn.execute(text(sql), params)
            conn.execute(text("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only"))
        else:
            trigger = conn.execute(
                text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'ledger_entries_append_only'")
            ).scalar_one()
            conn.execute(text("DROP TRIGGER ledger_entries_append_only"))
            conn.execute(text(sql), params)
            conn.execute(text(trigger))
