"""Stores ask for payouts; the payout run pays each exactly once, or returns the money."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

import db
import jobs
from bench.support import all_at_once
from storefront.ledger import jobs as money_jobs
from storefront.ledger import payouts
from storefront.ledger.models import Payout, SimulatedPayment
from tests.money import give_store, verify

BALANCE, PAYOUTS, RUN = "/api/v1/store/balance", "/api/v1/store/payouts", "/api/v1/admin/payouts/run"


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing in the job gets to clean up after it."""


def funded_store(api, app, available_fen=1000):
    store = api.store()
    give_store(app, store.id, available_fen=available_fen)
    return store


def balance(api, store):
    body = api.get(BALANCE, who=store, expect=200).json
    return {k: body[f"{k}_fen"] for k in ("available", "in_transit", "paid_out")}


def provider_records(app, payout_id=None) -> int:
    with db.session_scope(app) as s:
        q = select(func.count()).select_from(SimulatedPayment)
        if payout_id:
            q = q.where(SimulatedPayment.idempotency_key == payout_id)
        return s.scalar(q)


def payout_row(app, payout_id) -> Payout:
    with db.session_scope(app) as s:
        return s.get(Payout, payout_id)


def run(api):
    return api.post(RUN, who=api.admin, expect=202).json


# --- requesting --------------------------------------------------------------------------------


def test_requesting_a_payout_moves_the_money_to_in_transit_at_once(api, app):
    store = funded_store(api, app, 1000)
    r = api.post(PAYOUTS, {"amount_fen": 600}, who=store, expect=201).json
    assert r["status"] == "requested" and r["amount_fen"] == 600 and r["id"].startswith("po_")
    assert balance(api, store) == {"available": 400, "in_transit": 600, "paid_out": 0}
    assert [p["id"] for p in api.get(PAYOUTS, who=store).json["items"]] == [r["id"]]


def test_asking_for_more_than_is_available_is_insufficient_funds_and_changes_nothing(api, app):
    store = funded_store(api, app, 1000)
    r = api.post(PAYOUTS, {"amount_fen": 1001}, who=store, expect=409)
    assert r.json["error"]["code"] == "insufficient_funds"
    assert balance(api, store) == {"available": 1000, "in_transit": 0, "paid_out": 0}
    assert api.get(PAYOUTS, who=store).json["items"] == []


def test_the_whole_available_balance_can_be_paid_out(api, app):
    store = funded_store(api, app, 1000)
    api.post(PAYOUTS, {"amount_fen": 1000}, who=store, expect=201)
    assert balance(api, store)["available"] == 0


def test_a_payout_below_the_minimum_names_amount_fen(api, app, monkeypatch):
    store = funded_store(api, app, 1000)
    r = api.post(PAYOUTS, {"amount_fen": 99}, who=store, expect=422)
    assert "amount_fen" in r.json["error"]["fields"]
    monkeypatch.setitem(app.config, "PAYOUT_MIN_FEN", 500)
    r = api.post(PAYOUTS, {"amount_fen": 499}, who=store, expect=422)
    assert "500" in r.json["error"]["fields"]["amount_fen"][0]
    assert balance(api, store)["available"] == 1000


@pytest.mark.parametrize(
    "body",
    [{}, {"amount_fen": "500"}, {"amount_fen": 5.5}, {"amount_fen": -500}, {"amount_fen": 0}, {"amount_fen": None}],
)
def test_bad_payout_amounts_name_amount_fen(api, app, body):
    store = funded_store(api, app, 1000)
    r = api.post(PAYOUTS, body, who=store, expect=422)
    assert "amount_fen" in r.json["error"]["fields"]


def test_a_retried_request_with_the_same_idempotency_key_asks_once(api, app):
    store = funded_store(api, app, 1000)
    headers = {**store.headers, "Idempotency-Key": "tap-1"}
    first = api.post(PAYOUTS, {"amount_fen": 300}, who=headers, expect=201).json
    again = api.post(PAYOUTS, {"amount_fen": 300}, who=headers, expect=201).json
    assert again["id"] == first["id"]
    assert balance(api, store)["available"] == 700
    r = api.post(PAYOUTS, {"amount_fen": 400}, who=headers, expect=409)
    assert r.json["error"]["code"] == "idempotency_conflict"


def test_idempotency_keys_are_per_store(api, app):
    one, two = funded_store(api, app), funded_store(api, app)
    a = api.post(PAYOUTS, {"amount_fen": 300}, who={**one.headers, "Idempotency-Key": "k"}, expect=201).json
    b = api.post(PAYOUTS, {"amount_fen": 300}, who={**two.headers, "Idempotency-Key": "k"}, expect=201).json
    assert a["id"] != b["id"]


# --- paying --------------------------------------------------------------------------------------


def test_the_payout_run_pays_requested_payouts(api, app):
    store = funded_store(api, app, 1000)
    payout = api.post(PAYOUTS, {"amount_fen": 600}, who=store, expect=201).json
    body = run(api)
    assert body["job_id"]
    got = api.get(f"{PAYOUTS}/{payout['id']}", who=store, expect=200).json
    assert got["status"] == "paid" and got["finished_at"].endswith("Z")
    assert balance(api, store) == {"available": 400, "in_transit": 0, "paid_out": 600}
    assert provider_records(app, payout["id"]) == 1
    top = api.get("/api/v1/store/ledger", who=store).json["items"][0]
    assert (top["kind"], top["amount_fen"], top["in_transit_change_fen"], top["paid_out_change_fen"]) == (
        "payout_paid",
        0,
        -600,
        600,
    )
    assert verify(app) == []


def test_running_the_payouts_again_changes_nothing(api, app):
    store = funded_store(api, app, 1000)
    api.post(PAYOUTS, {"amount_fen": 600}, who=store, expect=201)
    run(api)
    before = (balance(api, store), api.get("/api/v1/store/ledger", who=store).json)
    run(api)
    run(api)
    assert (balance(api, store), api.get("/api/v1/store/ledger", who=store).json) == before
    assert provider_records(app) == 1


def test_a_declined_payout_returns_the_money_to_available(api, app, monkeypatch):
    store = funded_store(api, app, 1000)
    payout = api.post(PAYOUTS, {"amount_fen": 600}, who=store, expect=201).json
    monkeypatch.setitem(app.config, "SIMULATED_PAYOUT_FAILURES", {store.id})
    run(api)
    got = api.get(f"{PAYOUTS}/{payout['id']}", who=store).json
    assert got["status"] == "failed" and got["failure_reason"]
    assert balance(api, store) == {"available": 1000, "in_transit": 0, "paid_out": 0}
    top = api.get("/api/v1/store/ledger", who=store).json["items"][0]
    assert (top["kind"], top["amount_fen"], top["available_change_fen"], top["in_transit_change_fen"]) == (
        "payout_failed",
        600,
        600,
        -600,
    )
    monkeypatch.setitem(app.config, "SIMULATED_PAYOUT_FAILURES", None)
    run(api)  # a failed payout stays failed: the store asks again if it wants
    assert balance(api, store) == {"available": 1000, "in_transit": 0, "paid_out": 0}
    assert verify(app) == []


def test_only_the_declined_store_gets_its_money_back(api, app, monkeypatch):
    ok, declined = funded_store(api, app), funded_store(api, app)
    api.post(PAYOUTS, {"amount_fen": 500}, who=ok, expect=201)
    api.post(PAYOUTS, {"amount_fen": 500}, who=declined, expect=201)
    monkeypatch.setitem(app.config, "SIMULATED_PAYOUT_FAILURES", {declined.id})
    run(api)
    assert balance(api, ok) == {"available": 500, "in_transit": 0, "paid_out": 500}
    assert balance(api, declined) == {"available": 1000, "in_transit": 0, "paid_out": 0}


def test_an_unavailable_provider_leaves_the_payout_requested_for_the_next_run(api, app, monkeypatch):
    store = funded_store(api, app, 1000)
    payout = api.post(PAYOUTS, {"amount_fen": 600}, who=store, expect=201).json
    monkeypatch.setitem(app.config, "SIMULATED_PAYOUT_UNAVAILABLE", "*")
    run(api)
    assert api.get(f"{PAYOUTS}/{payout['id']}", who=store).json["status"] == "requested"
    assert balance(api, store) == {"available": 400, "in_transit": 600, "paid_out": 0}
    monkeypatch.setitem(app.config, "SIMULATED_PAYOUT_UNAVAILABLE", None)
    run(api)
    assert api.get(f"{PAYOUTS}/{payout['id']}", who=store).json["status"] == "paid"
    assert payout_row(app, payout["id"]).attempts == 2


def test_the_due_sweep_pays_requested_payouts(api, app):
    store = funded_store(api, app, 1000)
    api.post(PAYOUTS, {"amount_fen": 600}, who=store, expect=201)
    with app.app_context():
        results = jobs.run_due()
    assert results["payouts"]["paid"] == 1
    assert balance(api, store)["paid_out"] == 600


def test_only_admins_run_payouts(api):
    store, brand = api.store(), api.brand()
    assert api.post(RUN, who=store).status_code == 403
    assert api.post(RUN, who=brand).status_code == 403
    assert api.post(RUN).status_code == 401


# --- a worker that dies --------------------------------------------------------------------------


def test_a_worker_killed_after_the_provider_paid_finishes_later_without_paying_twice(api, app, monkeypatch):
    store = funded_store(api, app, 1000)
    payout = api.post(PAYOUTS, {"amount_fen": 600}, who=store, expect=201).json

    def killed(*args, **kwargs):
        raise WorkerKilled()

    with monkeypatch.context() as m:
        m.setattr(payouts, "finish_payout", killed)
        with app.app_context(), pytest.raises(WorkerKilled):
            money_jobs.run_payouts()
    assert provider_records(app, payout["id"]) == 1  # the provider paid ...
    assert payout_row(app, payout["id"]).status == "processing"  # ... but we never heard
    assert balance(api, store) == {"available": 400, "in_transit": 600, "paid_out": 0}

    run(api)  # while the dead worker's lease lasts, nobody else touches the payout
    assert payout_row(app, payout["id"]).status == "processing"

    monkeypatch.setitem(app.config, "PAYOUT_LEASE_SECONDS", 0)  # the lease runs out
    run(api)
    assert payout_row(app, payout["id"]).status == "paid"
    assert provider_records(app, payout["id"]) == 1
    assert balance(api, store) == {"available": 400, "in_transit": 0, "paid_out": 600}
    assert verify(app) == []


def test_a_worker_killed_before_calling_the_provider_pays_once_on_the_next_run(api, app, monkeypatch):
    store = funded_store(api, app, 1000)
    payout = api.post(PAYOUTS, {"amount_fen": 600}, who=store, expect=201).json

    def killed(*args):
        real_claim(*args)
        raise WorkerKilled()

    real_claim = payouts._claim
    with monkeypatch.context() as m:
        m.setattr(payouts, "_claim", killed)
        with app.app_context(), pytest.raises(WorkerKilled):
            money_jobs.run_payouts()
    assert provider_records(app) == 0
    monkeypatch.setitem(app.config, "PAYOUT_LEASE_SECONDS", 0)
    run(api)
    assert payout_row(app, payout["id"]).status == "paid" and provider_records(app) == 1
    assert balance(api, store) == {"available": 400, "in_transit": 0, "paid_out": 600}


def test_a_worker_killed_while_recording_the_payment_leaves_nothing_half_done(api, app, monkeypatch):
    store = funded_store(api, app, 1000)
    payout = api.post(PAYOUTS, {"amount_fen": 600}, who=store, expect=201).json

    def killed(*args, **kwargs):
        raise WorkerKilled()

    with monkeypatch.context() as m:
        m.setattr(payouts.transfers, "transfer", killed)  # dies after marking it paid, before moving the money
        with app.app_context(), pytest.raises(WorkerKilled):
            money_jobs.run_payouts()
    assert payout_row(app, payout["id"]).status == "processing"  # the half-done transaction rolled back
    assert balance(api, store) == {"available": 400, "in_transit": 600, "paid_out": 0}
    monkeypatch.setitem(app.config, "PAYOUT_LEASE_SECONDS", 0)
    run(api)
    assert payout_row(app, payout["id"]).status == "paid" and provider_records(app) == 1
    assert balance(api, store) == {"available": 400, "in_transit": 0, "paid_out": 600}
    assert verify(app) == []


# --- concurrency (PostgreSQL) ------------------------------------------------------------------


def test_racing_payout_requests_spend_the_available_balance_exactly_once(api, app, postgres_only):
    store = funded_store(api, app, 1000)
    threads = 20

    def request_payout(_i, client):
        return client.post(PAYOUTS, json={"amount_fen": 300}, headers=store.headers).status_code

    statuses = all_at_once(threads, lambda i: app.test_client(), request_payout)

    assert statuses.count(201) == 3 and statuses.count(409) == threads - 3
    assert balance(api, store) == {"available": 100, "in_transit": 900, "paid_out": 0}
    assert len(api.get(PAYOUTS, who=store).json["items"]) == 3
    assert verify(app) == []


def test_concurrent_payout_runs_pay_each_payout_once(api, app, postgres_only):
    stores = [funded_store(api, app, 1000) for _ in range(3)]
    for store in stores:
        for _ in range(3):
            api.post(PAYOUTS, {"amount_fen": 300}, who=store, expect=201)
    runners = 4

    def run_once(_i, _):
        with app.app_context():
            return money_jobs.run_payouts()

    results = all_at_once(runners, lambda i: None, run_once)

    assert sum(r["paid"] for r in results) == 9
    assert provider_records(app) == 9
    for store in stores:
        assert balance(api, store) == {"available": 100, "in_transit": 0, "paid_out": 900}
    assert verify(app) == []
