"""The wallet and the till: redemption exactly once, where it is valid, reimbursed through the ledger."""

from datetime import timedelta

from sqlalchemy import select

import db
from bench.support import all_at_once
from loyalty.models import Coupon
from storefront.ledger import accounts, audit
from tests.factories import deposit, scan, scan_campaign


def _won(api, brand, tiers=None, budget_fen=10_000, partner=True, **scan_fields):
    """A consumer who just won the campaign's reward by scanning a bottle; and a partner store."""
    deposit(api, brand, 100_000)
    store = api.store(partner_of=brand if partner else None)
    batch = api.batch(brand, quantity=5)
    code = api.codes(brand, batch)[0]
    campaign = scan_campaign(api, brand, [batch["product"]["id"]], tiers=tiers, budget_fen=budget_fen)
    consumer = api.consumer()
    rewards = scan(api, consumer, code["token"], **scan_fields).json["rewards"]
    return store, consumer, rewards, campaign, batch


def _pending(app, store):
    with db.session_scope(app) as session:
        return accounts.balance(session, ("store", store.id, "pending"))


def test_a_partner_store_redeems_a_brand_coupon_once_and_is_reimbursed_the_face_value(api, app):
    brand = api.brand()
    store, consumer, rewards, campaign, _ = _won(api, brand)
    code = rewards[0]["code"]
    r = api.post("/api/v1/store/redemptions", {"coupon_code": code}, who=store, expect=200).json
    assert (r["kind"], r["value_fen"], r["reimbursed_fen"]) == ("brand_coupon", 500, 500)
    assert _pending(app, store) == 500
    again = api.post("/api/v1/store/redemptions", {"coupon_code": code}, who=store, expect=409)
    assert again.json["error"]["code"] == "already_redeemed"
    assert _pending(app, store) == 500
    got = api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=brand).json
    assert (got["spent_fen"], got["committed_fen"]) == (500, 0)
    wallet = api.get("/api/v1/me/coupons?status=redeemed", who=consumer).json["items"]
    assert [c["code"] for c in wallet] == [code]


def test_two_tills_redeeming_the_same_coupon_at_once_one_wins(api, app):
    brand = api.brand()
    store, _, rewards, _, _ = _won(api, brand)
    other_till = api.store(partner_of=brand)

    def till(i, client):
        who = store if i % 2 else other_till
        return client.post(
            "/api/v1/store/redemptions", json={"coupon_code": rewards[0]["code"]}, headers=who.headers
        ).status_code

    statuses = all_at_once(8, lambda i: app.test_client(), till)
    assert sorted(statuses) == [200] + [409] * 7
    assert _pending(app, store) + _pending(app, other_till) == 500
    with db.session_scope(app) as session:
        assert audit.verify(session) == []


def test_a_store_outside_the_brands_partner_network_cannot_redeem(api, app):
    brand = api.brand()
    _, _, rewards, _, _ = _won(api, brand)
    stranger = api.store()
    r = api.post("/api/v1/store/redemptions", {"coupon_code": rewards[0]["code"]}, who=stranger, expect=409)
    assert r.json["error"]["code"] == "wrong_store"
    assert _pending(app, stranger) == 0


def test_a_store_coupon_is_only_valid_at_its_store(api):
    brand = api.brand()
    tiers = [{"probability": 1.0, "reward": {"kind": "store_coupon", "value_fen": 300}}]
    store, _, rewards, _, _ = _won(api, brand, tiers=tiers, lat=31.2304, lng=121.4737)
    assert rewards[0]["store_id"] == store.id
    elsewhere = api.store(lat=31.5, lng=121.9, partner_of=brand)
    assert api.post("/api/v1/store/redemptions", {"coupon_code": rewards[0]["code"]}, who=elsewhere).status_code == 409
    r = api.post("/api/v1/store/redemptions", {"coupon_code": rewards[0]["code"]}, who=store, expect=200).json
    assert r["reimbursed_fen"] == 0, "a store coupon is the store's own discount"


def test_win_another_bottle_reimburses_the_store_the_products_cost(api, app):
    brand = api.brand()
    tiers = [{"probability": 1.0, "reward": {"kind": "free_item"}}]
    store, _, rewards, _, _ = _won(api, brand, tiers=tiers)
    assert rewards[0]["kind"] == "free_item" and rewards[0]["value_fen"] == 700
    r = api.post("/api/v1/store/redemptions", {"coupon_code": rewards[0]["code"].lower()}, who=store, expect=200).json
    assert r["reimbursed_fen"] == 700 and _pending(app, store) == 700


def test_points_are_not_redeemed_at_a_till(api):
    brand = api.brand()
    tiers = [{"probability": 1.0, "reward": {"kind": "points", "value_fen": 50}}]
    store, _, rewards, _, _ = _won(api, brand, tiers=tiers)
    r = api.post("/api/v1/store/redemptions", {"coupon_code": rewards[0]["code"]}, who=store, expect=409)
    assert r.json["error"]["code"] == "not_redeemable"


def test_unknown_coupon_codes_are_404_naming_the_field(api):
    store = api.store()
    r = api.post("/api/v1/store/redemptions", {"coupon_code": "NOPE"}, who=store, expect=404)
    assert "coupon_code" in r.json["error"]["fields"]


def _age_coupons(app, days=31):
    with db.session_scope(app) as session:
        for coupon in session.scalars(select(Coupon)):
            coupon.expires_at -= timedelta(days=days)


def test_expiry_job_expires_coupons_once_and_frees_their_budget(api, app):
    brand = api.brand()
    store, consumer, rewards, campaign, _ = _won(api, brand)
    _age_coupons(app)
    r = api.post("/api/v1/store/redemptions", {"coupon_code": rewards[0]["code"]}, who=store, expect=409)
    assert r.json["error"]["code"] == "expired"
    runner = app.test_cli_runner()
    assert "coupon_expiry: 1" in runner.invoke(args=["jobs", "run-due"]).output
    assert "coupon_expiry: 0" in runner.invoke(args=["jobs", "run-due"]).output
    assert api.get("/api/v1/me/coupons?status=expired", who=consumer).json["items"][0]["code"] == rewards[0]["code"]
    got = api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=brand).json
    assert (got["committed_fen"], got["remaining_budget_fen"]) == (0, 10_000)


def test_coupons_expiring_after_the_campaign_ended_return_their_budget_to_the_brand(api, app):
    brand = api.brand()
    _, _, rewards, campaign, _ = _won(api, brand)
    api.post(f"/api/v1/brand/campaigns/{campaign['id']}/end", who=brand, expect=200)
    assert api.get("/api/v1/brand/balance", who=brand).json["balance_fen"] == 100_000 - 500
    _age_coupons(app)
    app.test_cli_runner().invoke(args=["jobs", "run-due"])
    assert api.get("/api/v1/brand/balance", who=brand).json["balance_fen"] == 100_000
    with db.session_scope(app) as session:
        assert accounts.balance(session, ("campaign", campaign["id"], "reserve")) == 0
        assert audit.verify(session) == []


def test_consumers_see_only_their_own_wallet_and_roles_are_enforced(api):
    brand = api.brand()
    store, consumer, rewards, _, _ = _won(api, brand)
    stranger = api.consumer()
    assert api.get("/api/v1/me/coupons", who=stranger).json["items"] == []
    assert api.get("/api/v1/me/coupons", who=store).status_code == 403
    assert api.get("/api/v1/me/coupons").status_code == 401
    assert api.post("/api/v1/store/redemptions", {"coupon_code": rewards[0]["code"]}, who=consumer).status_code == 403
    assert api.post("/api/v1/store/redemptions", {"coupon_code": rewards[0]["code"]}, who=brand).status_code == 403
    assert api.get("/api/v1/me/coupons?status=bogus", who=consumer).status_code == 422


def test_nearby_stores_are_sorted_by_distance(api):
    brand = api.brand()
    far = api.store(lat=31.26, lng=121.50, partner_of=brand)
    near = api.store(lat=31.2305, lng=121.4738, partner_of=brand)
    body = api.get("/api/v1/stores/nearby?lat=31.2304&lng=121.4737&radius_m=10000", who=api.consumer(), expect=200).json
    ids = [s["id"] for s in body["items"]]
    assert ids.index(near.id) < ids.index(far.id)
    assert body["items"][0]["distance_m"] <= body["items"][-1]["distance_m"]
    assert api.get("/api/v1/stores/nearby?lat=95&lng=0", who=api.consumer()).status_code == 422


def test_a_new_consumers_referral_balance_is_zero_and_private(api):
    consumer = api.consumer()
    body = api.get("/api/v1/me/balance", who=consumer, expect=200).json
    assert (body["pending_fen"], body["available_fen"], body["paid_out_fen"]) == (0, 0, 0)
    assert api.get("/api/v1/me/balance", who=api.store()).status_code == 403


def test_a_free_item_reward_without_value_fen_is_worth_the_products_cost_from_the_start(api):
    brand = api.brand()
    deposit(api, brand, 100_000)
    product = api.product(brand, cost_fen=650)
    tiers = [{"probability": 1.0, "reward": {"kind": "free_item"}}]
    campaign = scan_campaign(api, brand, [product["id"]], tiers=tiers, budget_fen=10_000)
    assert campaign["tiers"][0]["reward"]["value_fen"] == 650
    got = api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=brand, expect=200).json
    assert got["tiers"][0]["reward"]["value_fen"] == 650
    uncosted = api.product(brand, cost_fen=None, price_fen=900)
    other = scan_campaign(api, brand, [uncosted["id"]], tiers=tiers, budget_fen=10_000)
    assert other["tiers"][0]["reward"]["value_fen"] == 900, "without a cost, the price"
    code = api.codes(brand, api.batch(brand, product=product, quantity=1))[0]
    assert scan(api, api.consumer(), code["token"]).json["rewards"][0]["value_fen"] == 650
