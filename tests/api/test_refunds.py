"""Refunds through the API: the consumer asks, the store decides (or time does), the provider pays it
back, and only then does the ledger reverse the order's split, once; payment notices as facts; the
daily reconciliation; refunds against payouts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import db
from bench.support import all_at_once
from storefront.ledger import accounts
from storefront.ledger.models import Settlement
from storefront.models import Order
from storefront.payments import refunds as refund_service
from storefront.payments.models import ProviderTransaction, Refund, SimulatedCharge, SimulatedRefund
from storefront.payments.provider import charge_notice
from tests.factories import deposit, notify_payment, refund_order, scan, scan_campaign
from tests.money import verify

REASON = {"reason": "牛奶包装破损"}


def balance(api, store):
    return api.get("/api/v1/store/balance", who=store, expect=200).json


def clearing(app):
    with db.session_scope(app) as session:
        return accounts.balance(session, ("platform", None, "clearing"))


def account(app, ref):
    with db.session_scope(app) as session:
        return accounts.balance(session, ref)


def run_due(app):
    return app.test_cli_runner().invoke(args=["jobs", "run-due"]).output


def settle_everything(app):
    with db.session_scope(app) as session:
        for row in session.scalars(select(Settlement).where(Settlement.status == "pending")):
            row.due_at -= timedelta(days=30)
    run_due(app)


def provider_refunds(app, key=None):
    with db.session_scope(app) as session:
        rows = session.scalars(select(SimulatedRefund).where(SimulatedRefund.idempotency_key == key if key else True))
        return [(r.amount_fen, r.calls) for r in rows]


@pytest.fixture
def shop(api):
    """A funded brand whose orders split 10% to the store, 5% to the platform, the rest to the brand."""
    brand = api.brand("Bright Dairy")
    deposit(api, brand, 1_000_000)
    store = api.store(region_code="310101", partner_of=brand)
    product = api.product(brand, price_fen=1000, cost_fen=600)
    api.post("/api/v1/brand/split-rules", {"store_percent": 10, "platform_percent": 5}, who=brand, expect=201)
    return {"brand": brand, "store": store, "product": product}


def paid_order(api, shop, consumer, quantity=1, coupon_id=None):
    body = {"store_id": shop["store"].id, "items": [{"product_id": shop["product"]["id"], "quantity": quantity}]}
    if coupon_id:
        body["coupon_id"] = coupon_id
    order = api.post("/api/v1/orders", body, who=consumer, expect=201).json
    notify_payment(api, order, expect=200)
    return order


def ask(api, consumer, order, expect=202, **body):
    return api.post(f"/api/v1/orders/{order['id']}/refund", REASON | body, who=consumer, expect=expect)


# --- the whole path -------------------------------------------------------------------------------


def test_a_refund_waits_for_the_store_then_the_provider_pays_it_and_the_split_is_reversed(api, app, shop):
    store, consumer = shop["store"], api.consumer()
    before = clearing(app)
    order = paid_order(api, shop, consumer, quantity=3)
    assert balance(api, store)["pending_fen"] == 300

    refund = ask(api, consumer, order).json["refund"]
    assert refund["status"] == "requested" and refund["amount_fen"] == 3000 and refund["auto_approve_at"]
    assert api.get(f"/api/v1/orders/{order['id']}", who=consumer).json["status"] == "refund_requested"
    assert provider_refunds(app) == [], "nothing is sent before the store decides"
    assert balance(api, store)["pending_fen"] == 300, "nothing moves before the provider pays"
    listed = api.get("/api/v1/store/refunds?status=requested", who=store, expect=200).json["items"]
    assert [r["id"] for r in listed] == [refund["id"]]

    decided = api.post(f"/api/v1/store/refunds/{refund['id']}/approve", {"note": "ok"}, who=store, expect=200).json
    assert decided["refund"]["status"] == "succeeded" and decided["refund"]["decided_by"] == "store"
    seen = api.get(f"/api/v1/orders/{order['id']}", who=consumer, expect=200).json
    assert seen["status"] == "refunded" and seen["refunded_fen"] == 3000
    assert [(r["id"], r["status"]) for r in seen["refunds"]] == [(refund["id"], "succeeded")]
    assert balance(api, store)["pending_fen"] == 0
    assert clearing(app) == before, "the payer got everything back"
    assert provider_refunds(app, refund["id"]) == [(3000, 1)]
    assert verify(app) == []


def test_partial_refunds_reverse_every_share_pro_rata_and_sum_exactly(api, app, shop):
    store, brand, consumer = shop["store"], shop["brand"], api.consumer()
    revenue = ("brand", brand.id, "revenue")
    fees = ("platform", None, "fees")
    order = paid_order(api, shop, consumer, quantity=1)  # 1000: store 100, platform 50, brand 850
    assert (balance(api, store)["pending_fen"], account(app, fees), account(app, revenue)) == (100, 50, 850)

    first = refund_order(api, consumer, store, order, amount_fen=333)
    assert first["status"] == "partially_refunded" and first["refunded_fen"] == 333
    # 333 of 1000 in proportion to 100/50/850 is 33.3/16.65/283.05: largest remainder gives 33/17/283
    assert (balance(api, store)["pending_fen"], account(app, fees), account(app, revenue)) == (67, 33, 567)

    again = ask(api, consumer, order, amount_fen=700, expect=422)
    assert "amount_fen" in again.json["error"]["fields"], "only 667 is left"
    last = refund_order(api, consumer, store, order)  # the rest
    assert last["status"] == "refunded" and last["refunded_fen"] == 1000
    assert (balance(api, store)["pending_fen"], account(app, fees), account(app, revenue)) == (0, 0, 0)
    assert ask(api, consumer, order, expect=409).json["error"]["code"] == "refund_state"
    assert verify(app) == []


def test_a_partial_refund_gives_back_the_coupon_reimbursement_in_proportion_and_the_coupon_after_the_last(
    api, app, shop
):
    brand, store, product = shop["brand"], shop["store"], shop["product"]
    scan_campaign(api, brand, [product["id"]], budget_fen=10_000)
    batch = api.batch(brand, product=product, quantity=1)
    consumer = api.consumer()
    coupon = scan(api, consumer, api.codes(brand, batch)[0]["token"]).json["rewards"][0]
    order = paid_order(api, shop, consumer, quantity=2, coupon_id=coupon["coupon_id"])
    reimbursed = coupon["value_fen"]
    pending = balance(api, store)["pending_fen"]
    paid = order["amount_fen"]

    half = refund_order(api, consumer, store, order, amount_fen=paid // 2)
    assert half["status"] == "partially_refunded"
    assert api.get("/api/v1/me/coupons?status=issued", who=consumer).json["items"] == [], "still used"
    refund_order(api, consumer, store, order)
    assert balance(api, store)["pending_fen"] == 0, f"{pending} pending, reimbursement {reimbursed} included"
    issued = api.get("/api/v1/me/coupons?status=issued", who=consumer).json["items"]
    assert [c["coupon_id"] for c in issued] == [coupon["coupon_id"]]
    assert verify(app) == []


# --- deciding ------------------------------------------------------------------------------------


def test_a_rejected_refund_leaves_the_order_paid_and_the_money_where_it_was(api, app, shop):
    store, consumer = shop["store"], api.consumer()
    order = paid_order(api, shop, consumer)
    refund = ask(api, consumer, order).json["refund"]
    r = api.post(f"/api/v1/store/refunds/{refund['id']}/reject", {"note": "已开封"}, who=store, expect=200).json
    assert r["refund"]["status"] == "rejected" and r["refund"]["note"] == "已开封"
    assert api.get(f"/api/v1/orders/{order['id']}", who=consumer).json["status"] == "paid"
    assert provider_refunds(app) == []
    again = api.post(f"/api/v1/store/refunds/{refund['id']}/approve", {}, who=store, expect=409)
    assert again.json["error"]["code"] == "refund_state", "decided already"
    settle_everything(app)
    assert balance(api, store)["available_fen"] == 100, "the hold is gone: the credit settled"
    assert verify(app) == []


def test_an_undecided_request_is_approved_after_the_auto_approve_time(api, app, shop):
    store, consumer = shop["store"], api.consumer()
    order = paid_order(api, shop, consumer)
    refund = ask(api, consumer, order).json["refund"]
    run_due(app)
    assert api.get(f"/api/v1/orders/{order['id']}", who=consumer).json["refunds"][0]["status"] == "requested"
    with db.session_scope(app) as session:
        session.get(Refund, refund["id"]).due_at -= timedelta(seconds=app.config["REFUND_AUTO_APPROVE_SECONDS"] + 1)
    run_due(app)
    seen = api.get(f"/api/v1/orders/{order['id']}", who=consumer).json
    assert seen["status"] == "refunded" and seen["refunds"][0]["decided_by"] == "auto"
    assert api.post(f"/api/v1/store/refunds/{refund['id']}/reject", {}, who=store).status_code == 409
    assert verify(app) == []


# --- bad input: a clear 4xx and nothing moved ----------------------------------------------------------


def test_refund_requests_that_cannot_be_granted_are_refused_and_move_nothing(api, app, shop):
    store, consumer, other = shop["store"], api.consumer(), api.consumer()
    unpaid = api.post(
        "/api/v1/orders",
        {"store_id": store.id, "items": [{"product_id": shop["product"]["id"], "quantity": 1}]},
        who=consumer,
        expect=201,
    ).json
    assert ask(api, consumer, unpaid, expect=409).json["error"]["code"] == "refund_state"
    order = paid_order(api, shop, consumer)

    def money():
        b = balance(api, store)
        return clearing(app), b["pending_fen"], b["available_fen"], b["in_transit_fen"]

    before = money()
    for body, field in (
        ({"amount_fen": 0}, "amount_fen"),
        ({"amount_fen": -5}, "amount_fen"),
        ({"amount_fen": 1001}, "amount_fen"),
        ({"amount_fen": "10"}, "amount_fen"),
    ):
        r = ask(api, consumer, order, expect=422, **body)
        assert field in r.json["error"]["fields"], body
    r = api.post(f"/api/v1/orders/{order['id']}/refund", {}, who=consumer, expect=422)
    assert "reason" in r.json["error"]["fields"]
    assert ask(api, other, order, expect=403).json["error"]["code"] == "forbidden"
    assert api.post("/api/v1/orders/or_nope/refund", REASON, who=consumer).status_code == 404
    refund = ask(api, consumer, order).json["refund"]
    assert ask(api, consumer, order, expect=409).json["error"]["code"] == "refund_state", "one open at a time"
    rival = api.store(partner_of=shop["brand"])
    assert api.post(f"/api/v1/store/refunds/{refund['id']}/approve", {}, who=rival).status_code == 403
    assert api.post("/api/v1/store/refunds/rf_nope/approve", {}, who=store).status_code == 404
    assert api.get("/api/v1/store/refunds", who=rival).json["items"] == []
    assert api.post(f"/api/v1/store/refunds/{refund['id']}/approve", {}, who=consumer).status_code == 403
    assert money() == before
    assert verify(app) == []


def test_a_refund_past_the_window_is_refused(api, app, shop):
    consumer = api.consumer()
    order = paid_order(api, shop, consumer)
    with db.session_scope(app) as session:
        session.get(Order, order["id"]).paid_at -= timedelta(seconds=app.config["REFUND_WINDOW_SECONDS"] + 1)
    assert ask(api, consumer, order, expect=409).json["error"]["code"] == "refund_window_closed"


# --- the provider ----------------------------------------------------------------------------------


def test_a_refund_the_provider_declines_stays_visible_and_is_retried_until_it_succeeds(api, app, shop, monkeypatch):
    store, consumer = shop["store"], api.consumer()
    before = clearing(app)
    order = paid_order(api, shop, consumer)
    monkeypatch.setitem(app.config, "SIMULATED_REFUND_FAILURES", "*")
    refund = refund_order(api, consumer, store, order)["refunds"][0]
    assert refund["status"] == "failed" and refund["attempts"] == 1 and "declined" in refund["last_error"]
    failed = api.get("/api/v1/admin/refunds?status=failed", who=api.admin, expect=200).json["items"]
    assert [(r["id"], r["attempts"]) for r in failed] == [(refund["id"], 1)]
    assert api.get("/api/v1/admin/refunds", who=store).status_code == 403
    assert balance(api, store)["pending_fen"] == 100 and clearing(app) == before - 1000, "nothing reversed"

    monkeypatch.setitem(app.config, "SIMULATED_REFUND_FAILURES", None)
    run_due(app)
    assert api.get(f"/api/v1/orders/{order['id']}", who=consumer).json["refunds"][0]["status"] == "failed"
    with db.session_scope(app) as session:
        session.get(Refund, refund["id"]).due_at -= timedelta(hours=1)  # the backoff has passed
    run_due(app)
    seen = api.get(f"/api/v1/orders/{order['id']}", who=consumer).json
    assert seen["status"] == "refunded" and seen["refunds"][0]["attempts"] == 2
    assert clearing(app) == before and provider_refunds(app) == [(1000, 1)]
    assert verify(app) == []


def test_a_refund_during_a_provider_outage_waits_and_is_sent_again_with_the_same_key(api, app, shop, monkeypatch):
    store, consumer = shop["store"], api.consumer()
    order = paid_order(api, shop, consumer)
    monkeypatch.setitem(app.config, "SIMULATED_REFUND_UNAVAILABLE", order["id"])
    refund = refund_order(api, consumer, store, order)["refunds"][0]
    assert refund["status"] == "approved" and "unavailable" in refund["last_error"]
    monkeypatch.setitem(app.config, "SIMULATED_REFUND_UNAVAILABLE", None)
    with db.session_scope(app) as session:
        session.get(Refund, refund["id"]).due_at -= timedelta(hours=1)
    run_due(app)
    assert api.get(f"/api/v1/orders/{order['id']}", who=consumer).json["status"] == "refunded"
    assert provider_refunds(app, refund["id"]) == [(1000, 1)]


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing in the job gets to clean up after it."""


def test_a_job_that_dies_after_the_provider_paid_is_finished_by_the_sweep_and_refunds_once(api, app, shop, monkeypatch):
    store, consumer = shop["store"], api.consumer()
    before = clearing(app)
    order = paid_order(api, shop, consumer)
    refund = ask(api, consumer, order).json["refund"]

    def die(*args, **kwargs):
        raise WorkerKilled

    monkeypatch.setattr(refund_service, "finish_refund", die)
    try:  # inline, the job dies inside the request; under RQ, the worker records the job as failed
        api.post(f"/api/v1/store/refunds/{refund['id']}/approve", {}, who=store)
    except WorkerKilled:
        pass
    monkeypatch.undo()
    assert provider_refunds(app, refund["id"]) == [(1000, 1)], "the provider paid"
    assert clearing(app) == before - 1000, "but we never recorded it"
    run_due(app)  # within the lease: nobody takes it over
    assert provider_refunds(app, refund["id"]) == [(1000, 1)]
    with db.session_scope(app) as session:
        session.get(Refund, refund["id"]).claimed_at -= timedelta(seconds=app.config["REFUND_LEASE_SECONDS"] + 1)
    run_due(app)
    assert provider_refunds(app, refund["id"]) == [(1000, 2)], "asked again with the same key, paid once"
    assert api.get(f"/api/v1/orders/{order['id']}", who=consumer).json["status"] == "refunded"
    assert clearing(app) == before
    assert verify(app) == []


# --- payment notices are facts -----------------------------------------------------------------------


def test_a_payment_for_an_expired_order_is_refunded_once_however_often_it_is_notified(api, app, shop):
    consumer = api.consumer()
    before = clearing(app)
    order = api.post(
        "/api/v1/orders",
        {"store_id": shop["store"].id, "items": [{"product_id": shop["product"]["id"], "quantity": 1}]},
        who=consumer,
        expect=201,
    ).json
    with db.session_scope(app) as session:
        session.get(Order, order["id"]).expires_at -= timedelta(hours=1)
    run_due(app)
    late = notify_payment(api, order, expect=200).json
    assert late["status"] == "expired" and late["refund_id"] and late["replay"] is False
    for _ in range(3):
        replay = notify_payment(api, order, expect=200).json
        assert replay["replay"] is True and replay["refund_id"] == late["refund_id"]
    seen = api.get(f"/api/v1/orders/{order['id']}", who=consumer).json
    assert seen["status"] == "expired"
    assert [(r["system"], r["status"]) for r in seen["refunds"]] == [(True, "succeeded")]
    assert provider_refunds(app) == [(1000, 1)] and clearing(app) == before
    with db.session_scope(app) as session:
        facts = session.scalars(select(ProviderTransaction).order_by(ProviderTransaction.kind)).all()
        assert [(f.kind, f.outcome) for f in facts] == [("payment", "refunding"), ("refund", "succeeded")]
    assert verify(app) == []


def test_a_wrong_amount_is_recorded_and_moves_nothing(api, app, shop):
    consumer = api.consumer()
    before = clearing(app)
    order = api.post(
        "/api/v1/orders",
        {"store_id": shop["store"].id, "items": [{"product_id": shop["product"]["id"], "quantity": 1}]},
        who=consumer,
        expect=201,
    ).json
    assert notify_payment(api, order, amount_fen=1, expect=409).json["error"]["code"] == "amount_mismatch"
    with db.session_scope(app) as session:
        fact = session.scalar(select(ProviderTransaction))
        assert (fact.outcome, fact.amount_fen) == ("amount_mismatch", 1)
    assert clearing(app) == before
    assert api.get(f"/api/v1/orders/{order['id']}", who=consumer).json["status"] == "pending_payment"


def test_a_notice_kept_but_never_applied_is_applied_by_the_sweep(api, app, shop):
    from storefront.payments import notices

    consumer = api.consumer()
    order = api.post(
        "/api/v1/orders",
        {"store_id": shop["store"].id, "items": [{"product_id": shop["product"]["id"], "quantity": 1}]},
        who=consumer,
        expect=201,
    ).json
    with db.session_scope(app) as session:  # the process died right after keeping the fact
        notices._keep(
            session, {"order_id": order["id"], "transaction_id": "tx-kept", "amount_fen": 1000, "status": "paid"}
        )
        session.scalar(select(ProviderTransaction)).received_at -= timedelta(minutes=5)
    run_due(app)
    assert api.get(f"/api/v1/orders/{order['id']}", who=consumer).json["status"] == "paid"
    assert balance(api, shop["store"])["pending_fen"] == 100
    assert verify(app) == []


# --- reconciliation ------------------------------------------------------------------------------


def test_reconcile_lists_every_difference_with_the_providers_statement(api, app, shop):
    from locale_format import shanghai

    store, consumer = shop["store"], api.consumer()
    order = api.post(
        "/api/v1/orders",
        {"store_id": store.id, "items": [{"product_id": shop["product"]["id"], "quantity": 2}]},
        who=consumer,
        expect=201,
    ).json
    with app.app_context():  # the simulated provider takes the payment and signs its notice
        body, signature = charge_notice(order["id"], 2000, "tx-reconcile", app.config["PAYMENT_WEBHOOK_SECRET"])
    r = api.client.post("/api/v1/payments/notify", data=body, headers={"X-Signature": signature})
    assert r.status_code == 200
    refund_order(api, consumer, store, order, amount_fen=500)
    today = shanghai(db.utcnow()).date().isoformat()
    runner = app.test_cli_runner()
    clean = runner.invoke(args=["payments", "reconcile", "--date", today])
    assert clean.exit_code == 0, clean.output
    assert "0 difference(s)" in clean.output

    with db.session_scope(app) as session:  # plant: a charge we never heard of, and a refund's amount off
        session.add(
            SimulatedCharge(
                transaction_id="tx-ghost", order_id="or_ghost", amount_fen=777, day=shanghai(db.utcnow()).date()
            )
        )
        session.scalar(select(SimulatedRefund)).amount_fen = 499
    found = runner.invoke(args=["payments", "reconcile", "--date", today])
    assert found.exit_code == 1
    lines = [json.loads(line) for line in found.output.splitlines() if line.startswith("{")]
    assert sorted((d["difference"], d["transaction_id"]) for d in lines) == sorted(
        [("missing_here", "tx-ghost"), ("amount", lines[[d["kind"] for d in lines].index("refund")]["transaction_id"])]
    )
    assert runner.invoke(args=["payments", "reconcile", "--date", "yesterday"]).exit_code == 2


# --- payouts and refunds never race -----------------------------------------------------------------


def test_an_open_refund_holds_the_store_money_it_may_claw_back_from_payouts(api, app, shop):
    store, consumer = shop["store"], api.consumer()
    order = paid_order(api, shop, consumer, quantity=10)  # the store earns 1000
    settle_everything(app)
    assert balance(api, store)["available_fen"] == 1000
    refund = ask(api, consumer, order, amount_fen=4000).json["refund"]  # may claw back 400
    assert balance(api, store)["available_fen"] == 600
    refused = api.post("/api/v1/store/payouts", {"amount_fen": 1000}, who=store, expect=409)
    assert refused.json["error"]["code"] == "insufficient_funds"
    api.post("/api/v1/store/payouts", {"amount_fen": 600}, who=store, expect=201)
    api.post(f"/api/v1/store/refunds/{refund['id']}/approve", {}, who=store, expect=200)
    assert balance(api, store)["available_fen"] == 0, "the 400 came out of the held money"
    with db.session_scope(app) as session:
        parts = session.get(Refund, refund["id"]).parts
        assert parts["store"] == {"from_pending": 0, "from_available": 400, "covered_by": {}}
    assert verify(app) == []


def test_an_unsettled_credit_waits_while_a_refund_is_open(api, app, shop):
    store, consumer = shop["store"], api.consumer()
    order = paid_order(api, shop, consumer)
    refund = ask(api, consumer, order).json["refund"]
    settle_everything(app)
    assert balance(api, store)["available_fen"] == 0 and balance(api, store)["pending_fen"] == 100
    api.post(f"/api/v1/store/refunds/{refund['id']}/approve", {}, who=store, expect=200)
    assert balance(api, store)["pending_fen"] == 0 and balance(api, store)["available_fen"] == 0
    assert verify(app) == []


def test_twenty_concurrent_approvals_of_one_request_make_one_refund(api, app, shop, postgres_only):
    store, consumer = shop["store"], api.consumer()
    before = clearing(app)
    order = paid_order(api, shop, consumer)
    refund = ask(api, consumer, order).json["refund"]

    def approve(_i, client):
        return client.post(f"/api/v1/store/refunds/{refund['id']}/approve", json={}, headers=store.headers).status_code

    statuses = all_at_once(20, lambda i: app.test_client(), approve)
    assert statuses.count(200) == 1 and statuses.count(409) == 19, statuses
    assert provider_refunds(app) == [(1000, 1)]
    assert clearing(app) == before
    with db.session_scope(app) as session:
        assert session.scalar(select(func.count()).select_from(Refund)) == 1
    assert verify(app) == []


def test_a_refund_request_and_a_payout_of_the_same_money_never_both_win(api, app, shop, postgres_only):
    """Rounds of a payout of everything available racing a refund request of the order that earned it:
    the payout either gets all of it (and the refund, still granted, is covered by the brand) or is
    refused because the refund holds it; the refund request is never refused for lack of money."""
    store = shop["store"]
    for round_ in range(6):
        consumer = api.consumer()
        order = paid_order(api, shop, consumer, quantity=5)
        settle_everything(app)
        available = balance(api, store)["available_fen"]

        def send(i, client, order=order, consumer=consumer, available=available):
            if i == 0:
                return client.post(
                    f"/api/v1/orders/{order['id']}/refund", json=REASON, headers=consumer.headers
                ).status_code
            return client.post(
                "/api/v1/store/payouts", json={"amount_fen": available}, headers=store.headers
            ).status_code

        refund_status, payout_status = all_at_once(2, lambda i: app.test_client(), send)
        assert refund_status == 202, round_
        assert payout_status in (201, 409), round_
        rid = api.get(f"/api/v1/orders/{order['id']}", who=consumer).json["refunds"][0]["id"]
        api.post(f"/api/v1/store/refunds/{rid}/approve", {}, who=store, expect=200)
        b = balance(api, store)
        assert b["available_fen"] >= 0
        if payout_status == 201:
            assert b["in_transit_fen"] >= available
        api.post("/api/v1/admin/payouts/run", who=api.admin, expect=202)
        assert verify(app) == []


# --- a real worker, killed ------------------------------------------------------------------------------


def _worker(app_settings, **extra):
    """`flask --app app worker` in its own process group, on the test database and Redis."""
    import os
    import subprocess
    import sys

    from bench.support import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIMULATED_", "REFUND_"))}
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "ADMIN_API_KEY",
        "MINIAPP_SECRET",
        "PAYMENT_WEBHOOK_SECRET",
        "CODE_MASTER_KEY",
        "SECRET_KEY",
        "PUBLIC_BASE_URL",
    ):
        env[name] = str(app_settings[name])
    env.update({"SWEEP_INTERVAL_SECONDS": "1", **{k: str(v) for k, v in extra.items()}})
    # A SIGKILLed worker's scheduler keeps RQ's scheduler lock until it times out (about a minute):
    # a restarted worker's sweeps start after that. The test lets it run out at once.
    from redis import Redis
    from rq.scheduler import RQScheduler

    Redis.from_url(app_settings["REDIS_URL"]).delete(RQScheduler.get_locking_key("default"))
    os.makedirs(os.path.join(ROOT, "test-artifacts"), exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(ROOT, "test-artifacts", "refund-worker.log"), "ab"),
        start_new_session=True,
    )


def _family(pid: int) -> list[int]:
    """`pid` and every process below it (RQ's work horse and scheduler put themselves in their own
    process groups, so a SIGKILL of the worker's group alone would spare them)."""
    import os

    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _kill(worker):
    """SIGKILL the worker and everything it started, as a machine losing power would."""
    import os
    import signal

    for pid in _family(worker.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    worker.wait(timeout=30)


def _wait(condition, seconds=60):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_a_worker_killed_while_a_refund_is_processing_leaves_it_to_the_next_worker_which_refunds_once(
    api, app, app_settings, shop, postgres_only, monkeypatch
):
    import time

    from app import create_app
    from storefront.payments import jobs as payment_jobs

    if not app_settings["REDIS_URL"]:
        pytest.skip("needs Redis (REDIS_URL) for a real worker")
    store, consumer = shop["store"], api.consumer()
    before = clearing(app)
    order = paid_order(api, shop, consumer)
    refund = ask(api, consumer, order).json["refund"]
    monkeypatch.setattr(payment_jobs, "enqueue_refund", lambda refund_id: None)  # approved, left to the worker
    api.post(f"/api/v1/store/refunds/{refund['id']}/approve", {}, who=store, expect=200)
    monkeypatch.undo()

    slow = _worker(app_settings, SIMULATED_REFUND_DELAY_SECONDS=60)  # pays, then answers a minute later
    try:
        assert _wait(lambda: provider_refunds(app, refund["id"]) == [(1000, 1)]), (
            "the worker never reached the provider"
        )
    finally:
        _kill(slow)
    with db.session_scope(app) as session:
        assert session.get(Refund, refund["id"]).status == "processing"
    assert clearing(app) == before - 1000, "killed before it could record the refund"

    fresh = _worker(app_settings, REFUND_LEASE_SECONDS=1)
    try:
        assert _wait(lambda: api.get(f"/api/v1/orders/{order['id']}", who=consumer).json["status"] == "refunded")
        # and how long an approved refund takes with a worker running: approval to succeeded
        second = paid_order(api, shop, consumer)
        asked = ask(api, consumer, second).json["refund"]
        queued = create_app({**app_settings, "RQ_IS_ASYNC": True})  # enqueue for the worker, as in production
        started = time.perf_counter()
        queued.test_client().post(f"/api/v1/store/refunds/{asked['id']}/approve", json={}, headers=store.headers)
        assert _wait(lambda: api.get(f"/api/v1/orders/{second['id']}", who=consumer).json["status"] == "refunded")
        print(f"refund approval to succeeded with a worker running: {time.perf_counter() - started:.2f} s")
        db.dispose(queued)
    finally:
        _kill(fresh)
    assert provider_refunds(app, refund["id"]) == [(1000, 2)], "asked twice with one key, paid once"
    assert clearing(app) == before
    with db.session_scope(app) as session:
        assert session.scalar(select(func.count()).select_from(Refund).where(Refund.order_id == order["id"])) == 1
    assert verify(app) == []


# --- what the store owner reads ----------------------------------------------------------------------


def test_a_refused_payout_says_what_is_available_what_is_held_and_when_more_comes(api, app, shop):
    store, consumer = shop["store"], api.consumer()
    settled = paid_order(api, shop, consumer, quantity=5)  # 500 for the store
    settle_everything(app)
    paid_order(api, shop, consumer, quantity=2)  # 200 more, pending
    ask(api, consumer, settled, amount_fen=1000)  # may claw back 100 of the 500
    b = balance(api, store)
    assert (b["available_fen"], b["held_fen"], b["pending_fen"], b["next_available_fen"]) == (400, 100, 200, 200)
    assert b["next_available_at"].endswith("Z")
    refused = api.post("/api/v1/store/payouts", {"amount_fen": 500}, who=store, expect=409).json["error"]
    assert refused["code"] == "insufficient_funds"
    reason = refused["fields"]["amount_fen"][0]
    assert "400 fen is available" in reason and "100 fen more is held" in reason
    assert f"200 fen of the 200 fen pending becomes available at {b['next_available_at'][:19]}" in reason


def test_the_store_page_lists_refund_requests_and_approves_and_rejects_them(api, app, client, shop):
    from tests.api.test_store_page import csrf_of

    store, consumer = shop["store"], api.consumer()
    first, second = paid_order(api, shop, consumer), paid_order(api, shop, consumer, quantity=2)
    one = ask(api, consumer, first).json["refund"]
    two = ask(api, consumer, second).json["refund"]
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get("/store").get_data(as_text=True)
    client.post("/store/login", data={"key": store.key, "csrf": csrf_of(page)})
    html = client.get("/store").get_data(as_text=True)
    assert "Refund requests" in html and one["id"] in html and two["id"] in html and "牛奶包装破损" in html
    token = csrf_of(html)
    assert client.post(f"/store/refunds/{one['id']}/approve", data={}).status_code == 303  # no CSRF token
    assert api.get(f"/api/v1/orders/{first['id']}", who=consumer).json["refunds"][0]["status"] == "requested"
    client.post(f"/store/refunds/{one['id']}/approve", data={"csrf": token})
    client.post(f"/store/refunds/{two['id']}/reject", data={"csrf": token})
    assert api.get(f"/api/v1/orders/{first['id']}", who=consumer).json["status"] == "refunded"
    assert api.get(f"/api/v1/orders/{second['id']}", who=consumer).json["status"] == "paid"
    after = client.get("/store?lang=zh").get_data(as_text=True)
    assert "退款申请" not in after, "nothing left to decide"
    again = client.post(f"/store/refunds/{one['id']}/reject", data={"csrf": token}, follow_redirects=True)
    assert "already been decided" in again.get_data(as_text=True)
    assert verify(app) == []
