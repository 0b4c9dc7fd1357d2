"""A store reads its own balance and statement, and nobody else's."""

import pytest

from tests.factories import deposit, scan, scan_campaign
from tests.money import give_store

BALANCE, LEDGER, PAYOUTS = "/api/v1/store/balance", "/api/v1/store/ledger", "/api/v1/store/payouts"


def test_a_new_store_has_nothing(api):
    store = api.store()
    assert api.get(BALANCE, who=store, expect=200).json == {
        "pending_fen": 0,
        "available_fen": 0,
        "in_transit_fen": 0,
        "paid_out_fen": 0,
        "held_fen": 0,
        "next_available_fen": 0,
        "next_available_at": None,
        "currency": "CNY",
    }
    assert api.get(LEDGER, who=store, expect=200).json == {"items": [], "next_cursor": None}


def test_balance_shows_pending_and_available_money(api, app):
    store = api.store()
    give_store(app, store.id, available_fen=1200, pending_fen=300)
    body = api.get(BALANCE, who=store).json
    assert (body["pending_fen"], body["available_fen"], body["in_transit_fen"], body["paid_out_fen"]) == (
        300,
        1200,
        0,
        0,
    )


def _line(item) -> tuple:
    return (
        item["kind"],
        item["amount_fen"],
        item["available_change_fen"],
        item["pending_change_fen"],
        item["in_transit_change_fen"],
        item["paid_out_change_fen"],
    )


def test_statement_lists_one_line_per_event_newest_first_with_what_it_did_to_each_balance(api, app):
    store = api.store()
    give_store(app, store.id, available_fen=1000, pending_fen=200)
    payout = api.post(PAYOUTS, {"amount_fen": 400}, who=store, expect=201).json
    items = api.get(LEDGER, who=store).json["items"]
    assert [_line(i) for i in items] == [
        ("payout_request", -400, -400, 0, 400, 0),  # off the balance, on its way: one line, not two
        ("coupon_reimbursement", 1200, 1000, 200, 0, 0),  # one credit to two accounts: one line
    ]
    assert items[0]["reference"] == payout["id"] and items[0]["at"].endswith("Z")
    assert all(isinstance(i["id"], str) and i["id"] == i["transfer_id"] for i in items)


def test_a_redeemed_coupon_and_its_settlement_are_two_lines_and_the_settlement_nets_nothing(api, app, monkeypatch):
    monkeypatch.setitem(app.config, "SETTLEMENT_DELAY_SECONDS", 0)
    brand = api.brand()
    deposit(api, brand, 10_000)
    store = api.store(partner_of=brand)
    batch = api.batch(brand, quantity=1)
    scan_campaign(api, brand, [batch["product"]["id"]], budget_fen=5_000)
    coupon = scan(api, api.consumer(), api.codes(brand, batch)[0]["token"]).json["rewards"][0]
    api.post("/api/v1/store/redemptions", {"coupon_code": coupon["code"]}, who=store, expect=200)
    assert "settlement: 1" in app.test_cli_runner().invoke(args=["jobs", "run-due"]).output
    items = api.get(LEDGER, who=store).json["items"]
    assert [_line(i) for i in items] == [
        ("settlement", 0, 500, -500, 0, 0),
        ("coupon_reimbursement", 500, 0, 500, 0, 0),
    ]
    assert [i["reference"] for i in items] == [coupon["code"], coupon["code"]]
    body = api.get(BALANCE, who=store).json
    assert (body["available_fen"], body["pending_fen"]) == (500, 0)
    assert body["available_fen"] + body["pending_fen"] == sum(i["amount_fen"] for i in items)


def test_a_paid_payout_nets_nothing_and_a_failed_one_gives_the_money_back(api, app, monkeypatch):
    store = api.store()
    give_store(app, store.id, available_fen=1000)
    api.post(PAYOUTS, {"amount_fen": 300}, who=store, expect=201)
    api.post("/api/v1/admin/payouts/run", who=api.admin, expect=202)
    monkeypatch.setitem(app.config, "SIMULATED_PAYOUT_FAILURES", {store.id})
    api.post(PAYOUTS, {"amount_fen": 200}, who=store, expect=201)
    api.post("/api/v1/admin/payouts/run", who=api.admin, expect=202)
    items = api.get(LEDGER, who=store).json["items"]
    assert [_line(i) for i in items] == [
        ("payout_failed", 200, 200, 0, -200, 0),
        ("payout_request", -200, -200, 0, 200, 0),
        ("payout_paid", 0, 0, 0, -300, 300),
        ("payout_request", -300, -300, 0, 300, 0),
        ("coupon_reimbursement", 1000, 1000, 0, 0, 0),
    ]
    body = api.get(BALANCE, who=store).json
    assert body["available_fen"] + body["pending_fen"] == sum(i["amount_fen"] for i in items) == 700
    assert body["paid_out_fen"] == sum(i["paid_out_change_fen"] for i in items) == 300


def test_statement_pages_with_a_cursor(api, app):
    store = api.store()
    for _ in range(5):
        give_store(app, store.id, available_fen=100, pending_fen=10)  # two accounts, one line each
    everything = api.get(LEDGER, who=store).json["items"]
    seen, cursor = [], None
    while True:
        r = api.get(LEDGER + "?limit=2" + (f"&cursor={cursor}" if cursor else ""), who=store, expect=200).json
        seen += [i["id"] for i in r["items"]]
        cursor = r["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and len(set(seen)) == 5
    assert seen == [i["id"] for i in everything]
    assert all(i["amount_fen"] == 110 for i in everything)


@pytest.mark.parametrize(
    "query, field", [("?limit=0", "limit"), ("?limit=501", "limit"), ("?cursor=%%%", "cursor"), ("?limit=abc", "limit")]
)
def test_bad_statement_queries_name_the_field(api, query, field):
    store = api.store()
    r = api.get(LEDGER + query, who=store)
    assert r.status_code in (400, 422) and field in r.json["error"]["fields"]


def test_a_store_sees_only_its_own_balance_statement_and_payouts(api, app):
    mine, theirs = api.store(), api.store()
    give_store(app, theirs.id, available_fen=5000, pending_fen=700)
    their_payout = api.post(PAYOUTS, {"amount_fen": 1000}, who=theirs, expect=201).json

    assert api.get(BALANCE, who=mine).json["available_fen"] == 0
    assert api.get(BALANCE, who=mine).json["pending_fen"] == 0
    assert api.get(LEDGER, who=mine).json["items"] == []
    assert api.get(PAYOUTS, who=mine).json["items"] == []
    api.get(f"{PAYOUTS}/{their_payout['id']}", who=mine, expect=403)
    assert api.get(f"{PAYOUTS}/{their_payout['id']}", who=theirs, expect=200).json["amount_fen"] == 1000
    assert api.get(BALANCE, who=theirs).json["available_fen"] == 4000


@pytest.mark.parametrize(
    "method, path", [("get", BALANCE), ("get", LEDGER), ("get", PAYOUTS), ("post", PAYOUTS), ("get", PAYOUTS + "/po_x")]
)
def test_store_endpoints_need_a_store_key(api, method, path):
    brand = api.brand()
    consumer = api.consumer()
    if method == "post":

        def call(path, **kw):
            return api.post(path, {"amount_fen": 500}, **kw)
    else:
        call = api.get
    assert call(path, who=brand).status_code == 403
    assert call(path, who=consumer).status_code == 403
    assert call(path, who=api.admin).status_code == 403
    assert call(path).status_code == 401
    assert call(path, who={"Authorization": "Bearer sk_not-a-real-key"}).status_code == 401


def test_unknown_payout_is_not_found(api):
    r = api.get(f"{PAYOUTS}/po_nope", who=api.store())
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"


def test_openapi_lists_the_money_endpoints(client):
    paths = client.get("/api/openapi.json").json["paths"]
    for path in (
        "/api/v1/store/balance",
        "/api/v1/store/ledger",
        "/api/v1/store/payouts",
        "/api/v1/admin/payouts/run",
        "/api/v1/admin/brands/{brand_id}/deposits",
        "/api/v1/brand/balance",
    ):
        assert path in paths
