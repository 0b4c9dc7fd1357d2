"""The ledger service: balanced, idempotent, bounded, two-phase, append-only, tamper-evident."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

import db
from errors import Conflict, IdempotencyConflict, InsufficientFunds, NotFound, ValidationFailed
from storefront.ledger import accounts, audit, transfers
from storefront.ledger.models import Account, Entry, Transfer
from tests.money import tamper, verify

_n = itertools.count(1)
CLEARING = ("platform", None, "clearing")


def brand():
    return ("brand", f"br_unit{next(_n)}", "budget")


def store(purpose="available", store_id=None):
    return ("store", store_id or f"st_unit{next(_n)}", purpose)


@pytest.fixture
def session(app):
    with db.session_scope(app) as s:
        yield s


def funded(session, amount=10_000):
    budget = brand()
    transfers.transfer(session, CLEARING, budget, amount, key=f"fund-{budget[1]}", kind="deposit")
    return budget


def test_transfer_lowers_the_debit_raises_the_credit_and_books_sum_to_zero(session):
    budget = funded(session, 1000)
    shop = store()
    t = transfers.transfer(session, budget, shop, 300, key="k1", kind="coupon_reimbursement", reference="cp_1")
    assert (accounts.balance(session, budget), accounts.balance(session, shop)) == (700, 300)
    assert accounts.balance(session, CLEARING) == -1000
    assert t.status == "posted" and t.amount_fen == 300 and t.kind == "coupon_reimbursement"
    amounts = sorted(session.scalars(select(Entry.amount_fen).where(Entry.transfer_id == t.id)))
    assert amounts == [-300, 300]
    assert audit.verify(session) == []


def test_same_key_and_content_returns_the_original_transfer_and_moves_nothing(session):
    budget, shop = funded(session, 1000), store()
    first = transfers.transfer(session, budget, shop, 300, key="once", kind="coupon_reimbursement")
    again = transfers.transfer(session, budget, shop, 300, key="once", kind="coupon_reimbursement")
    assert again.id == first.id
    assert accounts.balance(session, shop) == 300


@pytest.mark.parametrize("change", [{"amount_fen": 301}, {"kind": "rebate"}, {"reference": "other"}])
def test_same_key_with_other_content_is_an_idempotency_conflict(session, change):
    budget, shop = funded(session, 1000), store()
    transfers.transfer(session, budget, shop, 300, key="once", kind="coupon_reimbursement")
    args = {"amount_fen": 300, "kind": "coupon_reimbursement", "reference": None} | change
    with pytest.raises(IdempotencyConflict):
        transfers.transfer(
            session, budget, shop, args["amount_fen"], key="once", kind=args["kind"], reference=args["reference"]
        )
    assert accounts.balance(session, shop) == 300


def test_replay_returns_the_original_even_after_the_money_was_spent(session):
    budget, shop = funded(session, 500), store()
    first = transfers.transfer(session, budget, shop, 500, key="spend-all", kind="x")
    assert transfers.transfer(session, budget, shop, 500, key="spend-all", kind="x").id == first.id


def test_overdraft_of_a_bounded_account_is_refused_and_leaves_no_trace(session):
    budget, shop = funded(session, 100), store()
    entries_before = session.scalar(select(func.count()).select_from(Entry))
    with pytest.raises(InsufficientFunds) as refused:
        transfers.transfer(session, budget, shop, 101, key="too-much", kind="x")
    assert refused.value.status == 409 and refused.value.account == budget
    assert session.scalar(select(Transfer).where(Transfer.key == "too-much")) is None
    assert session.scalar(select(func.count()).select_from(Entry)) == entries_before
    # the caller's transaction is still usable: the same key now works for an affordable amount
    transfers.transfer(session, budget, shop, 100, key="too-much", kind="x")
    assert accounts.balance(session, budget) == 0


def test_platform_clearing_may_go_negative_but_nobody_else_may(session):
    a = accounts.account(session, *CLEARING)
    b = accounts.account(session, "brand", "br_x", "budget")
    c = accounts.account(session, "consumer", "cs_x", "available")
    assert (a.bounded, b.bounded, c.bounded) == (False, True, True)
    with pytest.raises(InsufficientFunds):
        transfers.transfer(session, c.ref, CLEARING, 1, key="consumer-overdraft", kind="x")


def test_account_is_get_or_create(session):
    first = accounts.account(session, "campaign", "ca_1", "reserve")
    assert accounts.account(session, "campaign", "ca_1", "reserve").id == first.id
    assert first.balance_fen == 0 and first.currency == "CNY"


def test_balance_of_an_account_that_does_not_exist_is_zero(session):
    assert accounts.balance(session, store()) == 0


@pytest.mark.parametrize("amount", [-1, 1.5, "10", True])
def test_negative_or_non_integer_amounts_are_validation_errors(session, amount):
    with pytest.raises(ValidationFailed) as bad:
        transfers.transfer(session, CLEARING, brand(), amount, key=f"bad-{amount!r}", kind="x")
    assert "amount_fen" in bad.value.fields


def test_a_transfer_needs_two_different_accounts(session):
    shop = store()
    with pytest.raises(ValidationFailed):
        transfers.transfer(session, shop, shop, 1, key="self", kind="x")


def test_zero_legs_are_skipped(session):
    budget, shop, other = funded(session, 100), store(), store()
    t = transfers.transfer_many(session, [(budget, shop, 0), (budget, other, 40)], key="zeros", kind="x")
    assert session.scalar(select(func.count()).select_from(Entry).where(Entry.transfer_id == t.id)) == 2
    assert accounts.balance(session, shop) == 0 and accounts.balance(session, other) == 40


def test_multi_leg_transfer_is_all_or_nothing(session):
    budget, shop, platform_fees = funded(session, 100), store(), ("platform", None, "fees")
    with pytest.raises(InsufficientFunds):
        transfers.transfer_many(session, [(budget, shop, 80), (budget, platform_fees, 30)], key="split", kind="x")
    assert accounts.balance(session, budget) == 100 and accounts.balance(session, shop) == 0
    t = transfers.transfer_many(session, [(budget, shop, 70), (budget, platform_fees, 30)], key="split", kind="x")
    assert t.amount_fen == 100
    assert accounts.balance(session, shop) == 70 and accounts.balance(session, platform_fees) == 30


def test_multi_leg_transfer_may_pass_through_an_empty_account(session):
    budget, middle, shop = funded(session, 50), store("pending"), store()
    transfers.transfer_many(session, [(budget, middle, 50), (middle, shop, 50)], key="through", kind="x")
    assert (accounts.balance(session, middle), accounts.balance(session, shop)) == (0, 50)


def test_ledger_functions_never_commit(app):
    budget = brand()
    with db.session_scope(app) as s:
        transfers.transfer(s, CLEARING, budget, 100, key="rolled-back", kind="deposit")
        s.rollback()
    with db.session_scope(app) as s:
        assert accounts.balance(s, budget) == 0
        assert s.scalar(select(Transfer).where(Transfer.key == "rolled-back")) is None


# --- two-phase ---------------------------------------------------------------------------------


def test_pending_transfer_reserves_money_without_moving_it(session):
    budget, shop = funded(session, 100), store()
    t = transfers.transfer(session, budget, shop, 60, key="hold", kind="coupon_reimbursement", pending=True)
    assert t.status == "pending"
    assert accounts.balance(session, budget) == 100 and accounts.spendable(session, budget) == 40
    with pytest.raises(InsufficientFunds):
        transfers.transfer(session, budget, store(), 41, key="beyond-hold", kind="x")
    assert audit.verify(session) == []


def test_posting_part_of_a_pending_transfer_releases_the_rest(session):
    budget, shop = funded(session, 100), store()
    t = transfers.transfer(session, budget, shop, 60, key="hold", kind="x", pending=True)
    post = transfers.post_pending(session, t.id, 25, key="hold-post")
    assert post.pending_id == t.id and post.amount_fen == 25
    assert accounts.balance(session, budget) == 75 and accounts.spendable(session, budget) == 75
    assert accounts.balance(session, shop) == 25
    assert t.status == "posted" and t.posted_fen == 25
    assert transfers.post_pending(session, t.id, 25, key="hold-post").id == post.id  # replay
    with pytest.raises(Conflict):
        transfers.post_pending(session, t.id, key="hold-post-again")
    assert audit.verify(session) == []


def test_posting_without_an_amount_posts_the_whole_reservation(session):
    budget, shop = funded(session, 100), store()
    t = transfers.transfer(session, budget, shop, 60, key="hold", kind="x", pending=True)
    transfers.post_pending(session, t.id, key="hold-post")
    assert accounts.balance(session, shop) == 60


def test_posting_more_than_was_reserved_is_refused(session):
    budget, shop = funded(session, 100), store()
    t = transfers.transfer(session, budget, shop, 60, key="hold", kind="x", pending=True)
    with pytest.raises(ValidationFailed):
        transfers.post_pending(session, t.id, 61, key="hold-post")
    assert t.status == "pending"


def test_voiding_releases_the_reservation_and_moves_nothing(session):
    budget, shop = funded(session, 100), store()
    t = transfers.transfer(session, budget, shop, 60, key="hold", kind="x", pending=True)
    transfers.void_pending(session, t.id, key="hold-void")
    assert accounts.spendable(session, budget) == 100 and accounts.balance(session, shop) == 0
    assert transfers.void_pending(session, t.id, key="hold-void").pending_id == t.id  # replay
    with pytest.raises(Conflict):
        transfers.post_pending(session, t.id, key="hold-post")


def test_expired_pending_transfers_cannot_be_posted_and_the_sweep_releases_them(session):
    budget, shop = funded(session, 100), store()
    past = db.utcnow() - timedelta(seconds=1)
    t = transfers.transfer(session, budget, shop, 60, key="hold", kind="x", pending=True, expires_at=past)
    with pytest.raises(Conflict):
        transfers.post_pending(session, t.id, key="hold-post")
    assert transfers.expire_pending(session) >= 1
    assert t.status == "expired" and accounts.spendable(session, budget) == 100
    assert transfers.expire_pending(session) == 0
    assert audit.verify(session) == []


def test_posting_an_unknown_transfer_is_not_found(session):
    with pytest.raises(NotFound):
        transfers.post_pending(session, "tr_nope", key="nope")


# --- append-only and tamper evidence ------------------------------------------------------------


def test_entries_cannot_be_updated(app, session):
    funded(session, 100)
    session.commit()
    with pytest.raises(DBAPIError):
        with db.engine(app).begin() as conn:
            conn.execute(text("UPDATE ledger_entries SET amount_fen = amount_fen + 1"))


def test_verify_names_the_entry_that_was_altered(app, session):
    budget, shop = funded(session, 1000), store()
    for i in range(3):
        transfers.transfer(session, budget, shop, 100, key=f"pay-{i}", kind="x")
    session.commit()
    shop_account = session.scalar(select(Account).where(Account.name == accounts.account_name(shop)))
    second = session.scalar(select(Entry).where(Entry.account_id == shop_account.id, Entry.seq == 2))
    session.commit()  # end the read transaction (on SQLite it holds the write lock)
    assert verify(app) == []

    tamper(app, "UPDATE ledger_entries SET amount_fen = 1000, balance_after_fen = 1100 WHERE id = :id", id=second.id)

    problems = verify(app)
    assert any(p.startswith(f"entry {second.id} on {shop_account.name}") for p in problems), problems
    assert any(f"transfer {second.transfer_id}" in p for p in problems)


def test_verify_notices_a_deleted_entry(app, session):
    budget, shop = funded(session, 1000), store()
    for i in range(3):
        transfers.transfer(session, budget, shop, 100, key=f"pay-{i}", kind="x")
    session.commit()
    shop_account = session.scalar(select(Account).where(Account.name == accounts.account_name(shop)))
    second = session.scalar(select(Entry).where(Entry.account_id == shop_account.id, Entry.seq == 2))
    third = session.scalar(select(Entry).where(Entry.account_id == shop_account.id, Entry.seq == 3))
    session.commit()

    tamper(app, "DELETE FROM ledger_entries WHERE id = :id", id=second.id)

    assert any(p.startswith(f"entry {third.id} on {shop_account.name}: sequence") for p in verify(app))


def test_verify_notices_a_changed_transfer_reference(app, session):
    budget, shop = funded(session, 1000), store()
    t = transfers.transfer(session, budget, shop, 100, key="ref", kind="x", reference="cp_1")
    transfer_id = t.id
    session.commit()
    with db.engine(app).begin() as conn:
        conn.execute(text("UPDATE ledger_transfers SET reference = 'cp_2' WHERE id = :id"), {"id": transfer_id})
    assert any("hash mismatch" in p for p in verify(app))


def test_verify_notices_an_account_total_changed_behind_its_back(app, session):
    budget = funded(session, 1000)
    session.commit()
    with db.engine(app).begin() as conn:
        conn.execute(
            text("UPDATE ledger_accounts SET balance_fen = balance_fen + 5 WHERE name = :n"),
            {"n": accounts.account_name(budget)},
        )
    problems = verify(app)
    assert any(p.startswith(f"account {accounts.account_name(budget)}: balance") for p in problems)
    assert any("add up to 5, not 0" in p for p in problems)


def test_ledger_verify_command_passes_then_names_the_broken_entry(app, session):
    budget, shop = funded(session, 1000), store()
    t = transfers.transfer(session, budget, shop, 100, key="cli", kind="x")
    session.commit()
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["ledger", "verify"])
    assert ok.exit_code == 0 and "ledger OK" in ok.output

    entry_id = session.scalar(select(Entry.id).where(Entry.transfer_id == t.id, Entry.amount_fen == 100))
    session.commit()
    tamper(app, "UPDATE ledger_entries SET amount_fen = 90 WHERE id = :id", id=entry_id)

    broken = runner.invoke(args=["ledger", "verify"])
    assert broken.exit_code == 1
    assert f"entry {entry_id} on " in broken.output and "FAILED" in broken.output
