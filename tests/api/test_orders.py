"""BC-linked commerce through the API: receipts, T+0 commission, orders, payments, splits, settlement, refunds."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

import db
from bench.support import all_at_once
from storefront.ledger import accounts, audit
from storefront.ledger.models import Settlement
from tests.factories import deposit, notify_payment, refund_order, scan, scan_campaign


def balance(api, store):
    return api.get("/api/v1/store/balance", who=store, expect=200).json


def ledger_ok(app):
    with db.session_scope(app) as session:
        assert audit.verify(session) == []


def settle_everything(app):
    """Let the refund window pass for every pending credit, then run the due sweeps."""
    with db.session_scope(app) as session:
        for row in session.scalars(select(Settlement).where(Settlement.status == "pending")):
            row.due_at -= timedelta(days=30)
    return app.test_cli_runner().invoke(args=["jobs", "run-due"]).output


@pytest.fixture
def chain(api):
    """A funded dairy with split rules and a rebate policy, a partner store in Shanghai, and a
    packed, activated case of 6 bottles assigned to Shanghai."""
    brand = api.brand("Bright Dairy")
    deposit(api, brand, 1_000_000)
    store = api.store(region_code="310101", partner_of=brand)
    product = api.product(brand, price_fen=1200, cost_fen=700)
    items = api.batch(brand, product=product, quantity=6, region_codes=["310000"])
    cases = api.batch(brand, product=product, quantity=2, kind="case", region_codes=["310000"])
    item_codes, case_codes = api.codes(brand, items), api.codes(brand, cases)
    api.post(
        "/api/v1/brand/aggregations",
        {"parent": case_codes[0]["token"], "children": [c["token"] for c in item_codes]},
        who=brand,
        expect=201,
    )
    api.post(
        "/api/v1/brand/split-rules",
        {"store_percent": 10, "platform_percent": 5, "referrer_percent": 3, "referrer2_percent": 1},
        who=brand,
        expect=201,
    )
    api.post("/api/v1/brand/rebate-policy", {"per_scan_fen": 20, "per_receipt_item_fen": 10}, who=brand, expect=201)
    return {"brand": brand, "store": store, "product": product, "items": item_codes, "cases": case_codes}


def test_the_whole_chain_from_receipt_to_payout_and_refund(api, app, chain):
    brand, store, product = chain["brand"], chain["store"], chain["product"]
    scan_campaign(api, brand, [product["id"]], budget_fen=10_000)
    ledger_ok(app)
    # the store receives the case: 6 bottles bound, 6 x 10 fen rebate
    receipt = api.post("/api/v1/store/receipts", {"code": chain["cases"][0]["url"]}, who=store, expect=200).json
    assert (receipt["bound_items"], receipt["rebate_fen"], receipt["diversion"]) == (6, 60, False)
    assert balance(api, store)["pending_fen"] == 60
    ledger_ok(app)
    # a consumer scans a bottle: coupon, the bottle's store, and the store's T+0 commission
    consumer = api.consumer()
    scanned = scan(api, consumer, chain["items"][0]["token"]).json
    assert scanned["store"]["id"] == store.id and len(scanned["rewards"]) == 1
    assert balance(api, store)["pending_fen"] == 60 + 20
    ledger_ok(app)
    # orders two bottles through the store with the 5-yuan coupon, pays
    coupon = scanned["rewards"][0]
    order = api.post(
        "/api/v1/orders",
        {
            "store_id": store.id,
            "items": [{"product_id": product["id"], "quantity": 2}],
            "coupon_id": coupon["coupon_id"],
        },
        who=consumer,
        expect=201,
    ).json
    assert (order["subtotal_fen"], order["discount_fen"], order["amount_fen"]) == (2400, 500, 1900)
    assert order["status"] == "pending_payment"
    assert api.get("/api/v1/me/coupons?status=held", who=consumer).json["items"][0]["coupon_id"] == coupon["coupon_id"]
    notify_payment(api, order, expect=200)
    paid = api.get(f"/api/v1/orders/{order['id']}", who=consumer, expect=200).json
    assert paid["status"] == "paid"
    # the split lands as pending: 10% of 1900 for the store, and the brand reimburses the coupon
    assert balance(api, store)["pending_fen"] == 80 + 190 + 500
    ledger_ok(app)
    # settlement makes it available, once
    settle_everything(app)
    settle_everything(app)
    assert balance(api, store)["available_fen"] == 770 and balance(api, store)["pending_fen"] == 0
    ledger_ok(app)
    # the store withdraws, the payout run pays it
    payout = api.post("/api/v1/store/payouts", {"amount_fen": 700}, who=store, expect=201).json
    api.post("/api/v1/admin/payouts/run", who=api.admin, expect=202)
    assert api.get("/api/v1/store/payouts", who=store).json["items"][0]["status"] == "paid"
    assert balance(api, store)["paid_out_fen"] == 700 and balance(api, store)["available_fen"] == 70
    ledger_ok(app)
    # a second order is paid and refunded before settlement: the split is reversed from pending
    second = api.post(
        "/api/v1/orders",
        {"store_id": store.id, "items": [{"product_id": product["id"], "quantity": 1}]},
        who=consumer,
        expect=201,
    ).json
    notify_payment(api, second, expect=200)
    assert balance(api, store)["pending_fen"] == 120
    refunded = refund_order(api, consumer, store, second)
    assert refunded["status"] == "refunded" and refunded["refunds"][0]["status"] == "succeeded"
    assert balance(api, store)["pending_fen"] == 0
    again = api.post(f"/api/v1/orders/{second['id']}/refund", {"reason": "again"}, who=consumer)
    assert again.status_code == 409
    ledger_ok(app)
    assert payout["amount_fen"] == 700


def clearing(app):
    with db.session_scope(app) as session:
        return accounts.balance(session, ("platform", None, "clearing"))


def test_refund_after_settlement_claws_back_from_available_and_the_brand_covers_a_shortfall(api, app, chain):
    store, product, consumer = chain["store"], chain["product"], api.consumer()
    before = clearing(app)
    order = api.post(
        "/api/v1/orders",
        {"store_id": store.id, "items": [{"product_id": product["id"], "quantity": 10}]},
        who=consumer,
        expect=201,
    ).json
    notify_payment(api, order, expect=200)
    settle_everything(app)
    assert balance(api, store)["available_fen"] == 1200
    api.post("/api/v1/store/payouts", {"amount_fen": 1000}, who=store, expect=201)
    refund = refund_order(api, consumer, store, order)
    assert refund["status"] == "refunded"
    assert balance(api, store)["available_fen"] == 0, "the store gives back what it has, never below zero"
    assert balance(api, store)["in_transit_fen"] == 1000, "the payout already requested is not touched"
    assert clearing(app) == before, "the payer got everything back"
    with db.session_scope(app) as session:
        from storefront.models import Order

        # the brand share is reversed out of revenue in the same transfer, so the budget covers the rest
        assert session.get(Order, order["id"]).refund["store"]["covered_by"] == {
            f"brand:{chain['brand'].id}:budget": 1000
        }
    ledger_ok(app)


def test_twenty_duplicate_payment_notices_at_once_split_once(api, app, chain):
    store, product, consumer = chain["store"], chain["product"], api.consumer()
    before = clearing(app)
    order = api.post(
        "/api/v1/orders",
        {"store_id": store.id, "items": [{"product_id": product["id"], "quantity": 1}]},
        who=consumer,
        expect=201,
    ).json
    body = json.dumps(
        {"order_id": order["id"], "transaction_id": "tx-dup", "amount_fen": 1200, "status": "paid"}
    ).encode()
    signature = hmac.new(app.config["PAYMENT_WEBHOOK_SECRET"].encode(), body, hashlib.sha256).hexdigest()

    def provider(_i, client):
        return client.post("/api/v1/payments/notify", data=body, headers={"X-Signature": signature}).status_code

    statuses = all_at_once(20, lambda i: app.test_client(), provider)
    assert statuses == [200] * 20
    assert balance(api, store)["pending_fen"] == 120
    assert clearing(app) == before - 1200, "paid once"
    ledger_ok(app)


def test_two_receipts_of_the_same_case_at_once_rebate_once(api, app, chain):
    store = chain["store"]

    def till(_i, client):
        r = client.post("/api/v1/store/receipts", json={"code": chain["cases"][0]["token"]}, headers=store.headers)
        return r.status_code, r.json

    results = all_at_once(6, lambda i: app.test_client(), till)
    assert [s for s, _ in results] == [200] * 6
    assert sorted(body["rebate_fen"] for _, body in results) == [0] * 5 + [60]
    assert balance(api, store)["pending_fen"] == 60


def test_settlement_run_twice_concurrently_settles_once(api, app, chain):
    store = chain["store"]
    api.post("/api/v1/store/receipts", {"code": chain["cases"][0]["token"]}, who=store, expect=200)
    with db.session_scope(app) as session:
        for row in session.scalars(select(Settlement)):
            row.due_at -= timedelta(days=30)
    from storefront.ledger import settlement

    def sweep(_i, _):
        with app.app_context(), db.session_scope(app) as session:
            return settlement.settle_due(session)

    counts = all_at_once(4, lambda i: None, sweep)
    assert sum(counts) == 1
    assert balance(api, store)["available_fen"] == 60
    ledger_ok(app)


def test_a_case_outside_the_batchs_regions_is_flagged_as_diversion(api, chain):
    brand = chain["brand"]
    beijing = api.store(region_code="110101", lat=39.9, lng=116.4, partner_of=brand)
    r = api.post("/api/v1/store/receipts", {"code": chain["cases"][0]["token"]}, who=beijing, expect=200).json
    assert r["diversion"] is True
    alerts = api.get("/api/v1/brand/diversion-alerts", who=brand, expect=200).json["items"]
    assert alerts[0]["store_id"] == beijing.id and alerts[0]["expected_regions"] == ["310000"]
    assert alerts[0]["seen_region"] == "110101"
    assert api.get("/api/v1/brand/diversion-alerts", who=api.brand()).json["items"] == []


def test_receipts_refuse_foreign_inactive_voided_and_item_codes(api, chain):
    brand, store = chain["brand"], chain["store"]
    stranger = api.store()
    assert api.post("/api/v1/store/receipts", {"code": chain["cases"][0]["token"]}, who=stranger).status_code == 409
    inactive = api.batch(brand, quantity=1, kind="case", activate=False)
    assert (
        api.post("/api/v1/store/receipts", {"code": api.codes(brand, inactive)[0]["token"]}, who=store).status_code
        == 409
    )
    case_trace = api.get("/api/v1/brand/codes/" + chain["cases"][1]["token"] + "/trace", who=brand).json
    api.post(
        f"/api/v1/brand/batches/{case_trace['batch_id']}/void",
        {"from": chain["cases"][1]["serial"], "to": chain["cases"][1]["serial"], "reason": "damaged"},
        who=brand,
    )
    assert api.post("/api/v1/store/receipts", {"code": chain["cases"][1]["token"]}, who=store).status_code == 409
    r = api.post("/api/v1/store/receipts", {"code": chain["items"][0]["token"]}, who=store, expect=422)
    assert "code" in r.json["error"]["fields"]
    api.post("/api/v1/store/receipts", {"code": chain["cases"][0]["token"]}, who=store, expect=200)
    other_partner = api.store(partner_of=brand)
    assert (
        api.post("/api/v1/store/receipts", {"code": chain["cases"][0]["token"]}, who=other_partner).status_code == 409
    )


def test_received_items_show_the_store_in_their_trace(api, chain):
    api.post("/api/v1/store/receipts", {"code": chain["cases"][0]["token"]}, who=chain["store"], expect=200)
    trace = api.get(f"/api/v1/brand/codes/{chain['items'][0]['token']}/trace", who=chain["brand"], expect=200).json
    received = [e for e in trace["events"] if e["type"] == "received"]
    assert received and received[0]["detail"]["store_id"] == chain["store"].id


def test_bad_payment_notices_move_no_money(api, app, chain):
    store, product, consumer = chain["store"], chain["product"], api.consumer()
    before = clearing(app)
    order = api.post(
        "/api/v1/orders",
        {"store_id": store.id, "items": [{"product_id": product["id"], "quantity": 1}]},
        who=consumer,
        expect=201,
    ).json
    assert notify_payment(api, order, secret="wrong").status_code == 401
    unsigned = api.client.post("/api/v1/payments/notify", json={"order_id": order["id"]})
    assert unsigned.status_code == 401
    wrong = notify_payment(api, order, transaction_id="tx-wrong-amount", amount_fen=1, expect=409)
    assert wrong.json["error"]["code"] == "amount_mismatch"
    assert notify_payment(api, order, transaction_id="tx-wrong-amount", amount_fen=1).status_code == 409
    ghost = notify_payment(api, {"id": "or_nope", "amount_fen": 5}, expect=404)
    assert "order_id" in ghost.json["error"]["fields"]
    assert api.get(f"/api/v1/orders/{order['id']}", who=consumer).json["status"] == "pending_payment"
    assert balance(api, store)["pending_fen"] == 0
    assert clearing(app) == before
    notify_payment(api, order, expect=200)
    replay = notify_payment(api, order, expect=200)
    assert replay.json["replay"] is True
    # a second payment of the paid order is taken in, and given back to the payer by a system refund
    twice = notify_payment(api, order, transaction_id="tx-other", expect=200).json
    assert twice["refund_id"] and twice["replay"] is False
    assert balance(api, store)["pending_fen"] == 120
    refunds = api.get(f"/api/v1/orders/{order['id']}", who=consumer).json["refunds"]
    assert [(r["system"], r["status"], r["amount_fen"]) for r in refunds] == [(True, "succeeded", order["amount_fen"])]
    assert clearing(app) == before - order["amount_fen"], "one payment kept, the duplicate given back"
    ledger_ok(app)


@pytest.mark.parametrize(
    "body,field",
    [
        ({"items": [{"product_id": "pr_nope", "quantity": 1}]}, "items"),
        ({"items": [{"product_id": "P", "quantity": -1}]}, "items"),
        ({"items": [{"product_id": "P", "quantity": 0}]}, "items"),
        ({"items": []}, "items"),
        ({"store_id": "st_nope", "items": [{"product_id": "P", "quantity": 1}]}, "store_id"),
    ],
)
def test_bad_orders_name_the_field(api, chain, body, field):
    body = json.loads(json.dumps(body).replace('"P"', json.dumps(chain["product"]["id"])))
    body.setdefault("store_id", chain["store"].id)
    r = api.post("/api/v1/orders", body, who=api.consumer())
    assert r.status_code in (404, 422) and field in r.json["error"]["fields"]


def test_orders_for_another_brands_products_or_a_non_partner_store_are_refused(api, chain):
    other = api.brand()
    foreign = api.product(other)
    consumer = api.consumer()
    r = api.post(
        "/api/v1/orders",
        {"store_id": chain["store"].id, "items": [{"product_id": foreign["id"], "quantity": 1}]},
        who=consumer,
        expect=422,
    )
    assert "store_id" in r.json["error"]["fields"]
    mixed = api.post(
        "/api/v1/orders",
        {
            "store_id": chain["store"].id,
            "items": [
                {"product_id": foreign["id"], "quantity": 1},
                {"product_id": chain["product"]["id"], "quantity": 1},
            ],
        },
        who=consumer,
    )
    assert mixed.status_code == 422


def test_a_consumer_cannot_see_or_refund_someone_elses_order(api, chain):
    owner, other = api.consumer(), api.consumer()
    order = api.post(
        "/api/v1/orders",
        {"store_id": chain["store"].id, "items": [{"product_id": chain["product"]["id"], "quantity": 1}]},
        who=owner,
        expect=201,
    ).json
    assert api.get(f"/api/v1/orders/{order['id']}", who=other).status_code == 403
    assert api.post(f"/api/v1/orders/{order['id']}/refund", {"reason": "x"}, who=other).status_code == 403
    assert api.get(f"/api/v1/orders/{order['id']}", who=chain["store"]).status_code == 403
    body = api.get(f"/api/v1/orders/{order['id']}", who=owner).json
    assert "split" not in body


def test_unpaid_orders_expire_and_release_their_coupon(api, app, chain):
    brand, store, product = chain["brand"], chain["store"], chain["product"]
    scan_campaign(api, brand, [product["id"]], budget_fen=10_000)
    consumer = api.consumer()
    coupon = scan(api, consumer, chain["items"][1]["token"]).json["rewards"][0]
    order = api.post(
        "/api/v1/orders",
        {
            "store_id": store.id,
            "items": [{"product_id": product["id"], "quantity": 1}],
            "coupon_id": coupon["coupon_id"],
        },
        who=consumer,
        expect=201,
    ).json
    again = api.post(
        "/api/v1/orders",
        {
            "store_id": store.id,
            "items": [{"product_id": product["id"], "quantity": 1}],
            "coupon_id": coupon["coupon_id"],
        },
        who=consumer,
    )
    assert again.status_code == 409, "a held coupon cannot be used twice"
    from storefront.models import Order

    with db.session_scope(app) as session:
        session.get(Order, order["id"]).expires_at -= timedelta(hours=1)
    app.test_cli_runner().invoke(args=["jobs", "run-due"])
    assert api.get(f"/api/v1/orders/{order['id']}", who=consumer).json["status"] == "expired"
    assert (
        api.get("/api/v1/me/coupons?status=issued", who=consumer).json["items"][0]["coupon_id"] == coupon["coupon_id"]
    )
    late = notify_payment(api, order, expect=200).json  # the provider took the money: it is given back
    assert late["status"] == "expired" and late["refund_id"], "an expired order cannot be paid"


def test_split_rules_over_one_hundred_percent_are_refused(api, chain):
    r = api.post(
        "/api/v1/brand/split-rules",
        {"store_percent": 60, "platform_percent": 30, "referrer_percent": 11},
        who=chain["brand"],
        expect=422,
    )
    assert "store_percent" in r.json["error"]["fields"]
    r = api.post(
        "/api/v1/brand/split-rules", {"store_percent": 1.234, "platform_percent": 1}, who=chain["brand"], expect=422
    )
    assert "store_percent" in r.json["error"]["fields"]


def test_a_product_specific_split_rule_beats_the_brand_default(api, chain):
    brand, store, product = chain["brand"], chain["store"], chain["product"]
    api.post(
        "/api/v1/brand/split-rules",
        {"product_id": product["id"], "store_percent": 50, "platform_percent": 0},
        who=brand,
        expect=201,
    )
    order = api.post(
        "/api/v1/orders",
        {"store_id": store.id, "items": [{"product_id": product["id"], "quantity": 1}]},
        who=api.consumer(),
        expect=201,
    ).json
    notify_payment(api, order, expect=200)
    assert balance(api, store)["pending_fen"] == 600


def test_daily_dynamic_rebates_credit_once_per_store_and_day_and_catch_up(api, app, chain):
    from codes.models import Code
    from storefront import rebates

    brand, store = chain["brand"], chain["store"]
    api.post(
        "/api/v1/brand/rebate-policy",
        {
            "per_scan_fen": 0,
            "per_receipt_item_fen": 0,
            "daily_tiers": [{"min_items": 1, "per_item_fen": 5}, {"min_items": 3, "per_item_fen": 8}],
        },
        who=brand,
        expect=201,
    )
    api.post("/api/v1/store/receipts", {"code": chain["cases"][0]["token"]}, who=store, expect=200)
    for item in chain["items"][:4]:
        scan(api, api.consumer(), item["token"])
    with db.session_scope(app) as session:  # pretend 3 of the sales were two days ago, 1 yesterday
        rows = session.scalars(select(Code).where(Code.claimed_at.is_not(None)).order_by(Code.serial)).all()
        for i, row in enumerate(rows):
            row.claimed_at -= timedelta(days=2 if i < 3 else 1)
        from storefront.models import RebatePolicy

        for policy in session.scalars(select(RebatePolicy)):
            policy.created_at -= timedelta(days=3)
    with app.app_context(), db.session_scope(app) as session:
        first = rebates.run_daily(session, delay_seconds=app.config["SETTLEMENT_DELAY_SECONDS"])
        second = rebates.run_daily(session, delay_seconds=app.config["SETTLEMENT_DELAY_SECONDS"])
    assert first["credited_fen"] == 3 * 8 + 1 * 5
    assert second == {"days": 0, "credited_fen": 0}
    assert balance(api, store)["pending_fen"] == 29
    ledger_ok(app)


def test_refunding_a_coupon_order_after_the_store_withdrew_its_earnings_succeeds(api, app, chain):
    """Both the order share and the coupon reimbursement come back; the brand covers what the store lacks."""
    brand, store, product = chain["brand"], chain["store"], chain["product"]
    scan_campaign(api, brand, [product["id"]], budget_fen=10_000)
    api.post("/api/v1/store/receipts", {"code": chain["cases"][0]["token"]}, who=store, expect=200)
    consumer = api.consumer()
    coupon = scan(api, consumer, chain["items"][0]["token"]).json["rewards"][0]
    before = clearing(app)
    order = api.post(
        "/api/v1/orders",
        {
            "store_id": store.id,
            "items": [{"product_id": product["id"], "quantity": 2}],
            "coupon_id": coupon["coupon_id"],
        },
        who=consumer,
        expect=201,
    ).json
    notify_payment(api, order, expect=200)
    settle_everything(app)
    available = balance(api, store)["available_fen"]
    api.post("/api/v1/store/payouts", {"amount_fen": available - 70}, who=store, expect=201)
    refunded = refund_order(api, consumer, store, order)
    assert refunded["status"] == "refunded"
    assert balance(api, store)["available_fen"] == 0
    assert clearing(app) == before, "the payer got back exactly what was paid"
    assert (
        api.get("/api/v1/me/coupons?status=issued", who=consumer).json["items"][0]["coupon_id"] == coupon["coupon_id"]
    )
    ledger_ok(app)
