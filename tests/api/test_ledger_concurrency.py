"""Transactions racing on the ledger (PostgreSQL, real threads, one session each)."""

from __future__ import annotations

import db
from bench.support import all_at_once
from errors import IdempotencyConflict, InsufficientFunds
from storefront.ledger import accounts, audit, transfers

CLEARING = ("platform", None, "clearing")


def race(app, threads, work):
    """work(session, i) on `threads` threads released at once, each in its own session; returns what
    each returned, or the domain error it raised."""

    def one(i, _):
        try:
            with db.session_scope(app) as session:
                return work(session, i)
        except (InsufficientFunds, IdempotencyConflict) as exc:
            return exc

    return all_at_once(threads, lambda i: None, one)


def test_racing_transfers_with_one_key_move_the_money_once(app, postgres_only):
    budget, shop = ("brand", "br_race", "budget"), ("store", "st_race", "available")
    with db.session_scope(app) as s:
        transfers.transfer(s, CLEARING, budget, 1000, key="race-fund", kind="deposit")

    results = race(app, 12, lambda s, i: transfers.transfer(s, budget, shop, 700, key="race-once", kind="x").id)

    assert len(set(results)) == 1 and isinstance(results[0], str)
    with db.session_scope(app) as s:
        assert accounts.balance(s, shop) == 700 and accounts.balance(s, budget) == 300
        assert audit.verify(s) == []


def test_racing_transfers_with_one_key_and_other_amounts_conflict(app, postgres_only):
    budget, shop = ("brand", "br_race2", "budget"), ("store", "st_race2", "available")
    with db.session_scope(app) as s:
        transfers.transfer(s, CLEARING, budget, 1000, key="race2-fund", kind="deposit")

    results = race(app, 8, lambda s, i: transfers.transfer(s, budget, shop, 100 + i, key="race2-once", kind="x").id)

    winners = [r for r in results if isinstance(r, str)]
    assert len(set(winners)) == 1 and all(isinstance(r, (str, IdempotencyConflict)) for r in results)
    with db.session_scope(app) as s:
        assert 100 <= accounts.balance(s, shop) < 108
        assert audit.verify(s) == []


def test_racing_spenders_of_one_budget_never_overdraw_it(app, postgres_only):
    budget = ("brand", "br_race3", "budget")
    with db.session_scope(app) as s:
        transfers.transfer(s, CLEARING, budget, 1000, key="race3-fund", kind="deposit")

    def spend(s, i):
        # each spender also creates its own store account on the way: account creation races too
        return transfers.transfer(s, budget, ("store", f"st_race3_{i % 5}", "pending"), 150, key=f"race3-{i}", kind="x")

    results = race(app, 16, spend)

    assert sum(1 for r in results if not isinstance(r, Exception)) == 6
    assert all(isinstance(r, InsufficientFunds) for r in results if isinstance(r, Exception))
    with db.session_scope(app) as s:
        assert accounts.balance(s, budget) == 100
        assert audit.verify(s) == []
