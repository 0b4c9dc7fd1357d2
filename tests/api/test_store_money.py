"""A store reads its own balance and statement, and nobody else's."""

import pytest

from tests.money import give_store

BALANCE, LEDGER, PAYOUTS = "/api/v1/store/balance", "/api/v1/store/ledger", "/api/v1/store/payouts"


def test_a_new_store_has_nothing(api):
    store = api.store()
    assert api.get(BALANCE, who=store, expect=200).json == {
        "pending_fen": 0,
        "available_fen": 0,
        "in_transit_fen": 0,
        "paid_out_fen": 0,
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


def test_statement_lists_entries_newest_first_with_kind_amount_reference_and_time(api, app):
    store = api.store()
    give_store(app, store.id, available_fen=1000)
    payout = api.post(PAYOUTS, {"amount_fen": 400}, who=store, expect=201).json
    items = api.get(LEDGER, who=store).json["items"]
    assert [(i["kind"], i["account"], i["amount_fen"]) for i in items] == [
        ("payout_request", "in_transit", 400),
        ("payout_request", "available", -400),
        ("coupon_reimbursement", "available", 1000),
    ]
    assert items[0]["reference"] == payout["id"] and items[0]["at"].endswith("Z")
    assert items[1]["balance_after_fen"] == 600
    assert all(isinstance(i["id"], str) for i in items)


def test_statement_pages_with_a_cursor(api, app):
    store = api.store()
    for _ in range(5):
        give_store(app, store.id, available_fen=100)
    seen, cursor = [], None
    while True:
        r = api.get(LEDGER + "?limit=2" + (f"&cursor={cursor}" if cursor else ""), who=store, expect=200).json
        seen += [i["id"] for i in r["items"]]
        cursor = r["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and len(set(seen)) == 5
    assert seen == sorted(seen, key=int, reverse=True)


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
