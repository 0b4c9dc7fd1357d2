"""Random sequences of deposits, transfers, pendings, posts, voids, expiries, replays and payouts.

After every step: all balances sum to zero, no bounded account is negative, every balance equals the
sum of its entries, `verify` passes, and every account holds exactly what a plain-Python model of
the same steps says. Each example works on its own fresh owners, so examples do not interfere.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

import db
from errors import Conflict, IdempotencyConflict, InsufficientFunds
from identity import services as identity
from storefront.ledger import accounts, audit, deposits, payouts, providers, transfers
from storefront.ledger.models import Account, Entry, Payout

_example = itertools.count(1)
CLEARING = ("platform", None, "clearing")
FEES = ("platform", None, "fees")
N_ACCOUNTS = 9  # see Universe.accounts

account_index = st.integers(0, N_ACCOUNTS - 1)
# Amounts are drawn as a percentage of what the payer can spend (over 100: an overdraft attempt),
# so that most steps move money and some are refused; an unbounded payer uses pct * 10 fen.
pct = st.one_of(st.integers(0, 100), st.integers(90, 130))
payer = st.one_of(st.sampled_from([0, 1, 2, 3, 4, 5, 6]), account_index)
payee = st.one_of(st.sampled_from([2, 3, 4, 5]), account_index)
steps = st.one_of(
    st.tuples(st.just("deposit"), st.integers(0, 1), st.integers(0, 5000), st.integers(0, 3)),
    st.tuples(st.just("transfer"), payer, payee, pct),
    st.tuples(st.just("split"), payer, payee, account_index, pct, pct),
    st.tuples(st.just("pending"), payer, payee, pct, st.sampled_from([False, False, True])),
    st.tuples(st.just("post"), st.integers(0, 5), st.one_of(st.none(), st.integers(0, 100))),
    st.tuples(st.just("void"), st.integers(0, 5)),
    st.just(("expire",)),
    st.tuples(st.just("replay"), st.integers(0, 10), st.booleans()),
    st.tuples(st.just("payout"), st.integers(0, 1), pct),
    st.tuples(st.just("run_payouts"), st.sampled_from([(), (0,), (1,), (0, 1)])),
)


@dataclass
class Universe:
    """One example's accounts and a model of what each should hold."""

    n: int
    stores: list[str]
    accounts: list[tuple] = field(default_factory=list)
    balance: dict = field(default_factory=dict)
    reserved: dict = field(default_factory=dict)
    pendings: list[dict] = field(default_factory=list)
    done: list[dict] = field(default_factory=list)  # successful transfers, for replays
    payouts: list[tuple[str, int, int]] = field(default_factory=list)  # (payout id, store index, amount)
    settled: set[str] = field(default_factory=set)  # payouts the provider answered

    def __post_init__(self):
        brands = [("brand", f"br_p{self.n}_{i}", "budget") for i in range(2)]
        shops = [("store", s, p) for s in self.stores for p in ("pending", "available")]
        self.accounts = brands + shops + [("consumer", f"cs_p{self.n}", "available"), FEES, CLEARING]
        assert len(self.accounts) == N_ACCOUNTS
        self.all = self.accounts + [("store", s, p) for s in self.stores for p in ("in_transit", "paid_out")]

    def bounded(self, ref):
        return ref[0] != "platform"

    def amount(self, payer, share: int) -> int:
        return max(0, self.spendable(payer)) * share // 100 if self.bounded(payer) else share * 10

    def spendable(self, ref):
        return self.balance.get(ref, 0) - self.reserved.get(ref, 0)

    def move(self, legs):
        for debit, credit, amount in legs:
            self.balance[debit] = self.balance.get(debit, 0) - amount
            self.balance[credit] = self.balance.get(credit, 0) + amount

    def affordable(self, legs):
        net = {}
        for debit, credit, amount in legs:
            net[debit] = net.get(debit, 0) - amount
            net[credit] = net.get(credit, 0) + amount
        return all(not self.bounded(r) or d >= 0 or self.spendable(r) + d >= 0 for r, d in net.items())


def apply(app, u: Universe, step) -> None:
    op = step[0]
    key = f"p{u.n}-{len(u.done)}-{len(u.pendings)}-{op}-{id(step)}"
    if op == "deposit":
        _, b, amount, ref = step
        legs = [(CLEARING, u.accounts[b], amount)]
        prior = next((d for d in u.done if d["key"] == f"deposit:{u.accounts[b][1]}:bank-{ref}"), None)
        try:
            with db.session_scope(app) as s:
                t = deposits.deposit_to_brand(s, u.accounts[b][1], amount, f"bank-{ref}")
        except IdempotencyConflict:
            assert prior is not None and prior["legs"][0][2] != amount
            return
        if prior is not None:
            assert prior["legs"][0][2] == amount and t.id == prior["id"]
            return
        u.move(legs)
        u.done.append({"key": t.key, "legs": legs, "kind": "deposit", "reference": f"bank-{ref}", "id": t.id})
    elif op in ("transfer", "split"):
        if op == "transfer":
            _, a, b, share = step
            legs = [(u.accounts[a], u.accounts[b], u.amount(u.accounts[a], share))]
        else:
            _, a, b, c, x, y = step
            legs = [
                (u.accounts[a], u.accounts[b], u.amount(u.accounts[a], x // 2)),
                (u.accounts[a], u.accounts[c], u.amount(u.accounts[a], y // 2)),
            ]
        if any(d == c for d, c, _ in legs):
            return
        ok = u.affordable(legs)
        try:
            with db.session_scope(app) as s:
                t = transfers.transfer_many(s, legs, key=key, kind=op)
        except InsufficientFunds:
            assert not ok
            return
        assert ok
        u.move(legs)
        u.done.append({"key": key, "legs": legs, "kind": op, "reference": None, "id": t.id})
    elif op == "pending":
        _, a, b, share, expired = step
        debit, credit = u.accounts[a], u.accounts[b]
        amount = u.amount(debit, share)
        if debit == credit:
            return
        ok = not u.bounded(debit) or u.spendable(debit) >= amount
        expires = db.utcnow() + (timedelta(seconds=-1) if expired else timedelta(hours=1))
        try:
            with db.session_scope(app) as s:
                t = transfers.transfer(s, debit, credit, amount, key=key, kind="hold", pending=True, expires_at=expires)
        except InsufficientFunds:
            assert not ok
            return
        assert ok
        u.reserved[debit] = u.reserved.get(debit, 0) + amount
        u.pendings.append(
            {"id": t.id, "debit": debit, "credit": credit, "amount": amount, "expired": expired, "state": "pending"}
        )
    elif op in ("post", "void"):
        if not u.pendings:
            return
        open_ = [p for p in u.pendings if p["state"] == "pending"]
        p = open_[step[1] % len(open_)] if open_ and step[1] < 5 else u.pendings[step[1] % len(u.pendings)]
        partial = None if op == "void" or step[2] is None else p["amount"] * step[2] // 100
        refused = p["state"] != "pending" or (op == "post" and p["expired"])
        try:
            with db.session_scope(app) as s:
                if op == "post":
                    transfers.post_pending(s, p["id"], partial, key=key)
                else:
                    transfers.void_pending(s, p["id"], key=key)
        except Conflict:
            assert refused
            return
        assert not refused
        u.reserved[p["debit"]] -= p["amount"]
        if op == "post":
            u.move([(p["debit"], p["credit"], p["amount"] if partial is None else partial)])
        p["state"] = "posted" if op == "post" else "voided"
    elif op == "expire":
        with db.session_scope(app) as s:
            transfers.expire_pending(s)
        for p in u.pendings:
            if p["state"] == "pending" and p["expired"]:
                p["state"] = "expired"
                u.reserved[p["debit"]] -= p["amount"]
    elif op == "replay":
        if not u.done:
            return
        d = u.done[step[1] % len(u.done)]
        change = step[2]
        legs = [(a, b, x + 1 if change and i == 0 else x) for i, (a, b, x) in enumerate(d["legs"])]
        try:
            with db.session_scope(app) as s:
                t = transfers.transfer_many(s, legs, key=d["key"], kind=d["kind"], reference=d["reference"])
        except IdempotencyConflict:
            assert change
            return
        assert not change and t.id == d["id"]
    elif op == "payout":
        _, i, share = step
        available = ("store", u.stores[i], "available")
        amount = max(1, u.amount(available, share))
        ok = u.spendable(available) >= amount
        try:
            with db.session_scope(app) as s:
                payout = payouts.request_payout(s, u.stores[i], amount, min_fen=1)
        except InsufficientFunds:
            assert not ok
            return
        assert ok
        u.move([(available, ("store", u.stores[i], "in_transit"), amount)])
        u.payouts.append((payout.id, i, amount))
    elif op == "run_payouts":
        failing = {u.stores[i] for i in step[1]}
        with app.app_context():
            payouts.run_payouts(
                providers.SimulatedProvider(failures=failing), lease_seconds=app.config["PAYOUT_LEASE_SECONDS"]
            )
        with db.session_scope(app) as s:
            status = dict(s.execute(select(Payout.id, Payout.status).where(Payout.store_id.in_(u.stores))).all())
        for payout_id, _i, _amount in u.payouts:
            assert status[payout_id] in ("paid", "failed")
        for payout_id, i, amount in [p for p in u.payouts if p[0] not in u.settled]:
            store = u.stores[i]
            to = "available" if store in failing else "paid_out"
            assert status[payout_id] == ("failed" if store in failing else "paid")
            u.move([(("store", store, "in_transit"), ("store", store, to), amount)])
        u.settled |= {p[0] for p in u.payouts}


def check(app, u: Universe) -> None:
    with db.session_scope(app) as s:
        assert s.scalar(select(func.coalesce(func.sum(Account.balance_fen), 0))) == 0
        assert (
            s.scalar(
                select(func.count())
                .select_from(Account)
                .where(Account.bounded, Account.balance_fen - Account.pending_debits_fen < 0)
            )
            == 0
        )
        sums = dict(s.execute(select(Entry.account_id, func.sum(Entry.amount_fen)).group_by(Entry.account_id)).all())
        for acc in s.scalars(select(Account).where(Account.name.in_([accounts.account_name(r) for r in u.all]))):
            assert acc.balance_fen == sums.get(acc.id, 0)
        assert audit.verify(s, accounts=u.all) == []
        for ref in u.all:
            if ref == CLEARING or ref == FEES:
                continue  # shared by every example: covered by the zero-sum check
            assert accounts.balance(s, ref) == u.balance.get(ref, 0), ref
            assert accounts.spendable(s, ref) == u.spendable(ref), ref


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=st.lists(steps, min_size=5, max_size=25))
def test_random_money_movements_keep_the_books_exact(app, program):
    n = next(_example)
    with app.app_context():
        with db.session_scope(app) as s:
            stores = [identity.create_store(s, f"Prop {n}-{i}", 31.2, 121.4, "310101")["id"] for i in range(2)]
        u = Universe(n, stores)
        # Fund both brands and both stores' available balances, so that most steps can move money.
        funding = [("deposit", 0, 5000, 9), ("deposit", 1, 5000, 9), ("transfer", 0, 3, 30), ("transfer", 1, 5, 30)]
        for step in funding + program:
            apply(app, u, step)
            check(app, u)
        with db.session_scope(app) as s:
            assert audit.verify(s) == []
