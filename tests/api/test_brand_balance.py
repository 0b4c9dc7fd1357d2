"""A brand's balance says where its money is: unallocated budget, what each campaign holds, revenue."""

from datetime import timedelta

from sqlalchemy import select

import db
from loyalty.models import Coupon
from tests.factories import deposit, scan, scan_campaign

BALANCE = "/api/v1/brand/balance"


def _live_campaign(api, brand, budget_fen, quantity=3, **fields):
    batch = api.batch(brand, quantity=quantity)
    campaign = scan_campaign(api, brand, [batch["product"]["id"]], budget_fen=budget_fen, **fields)
    return campaign, api.codes(brand, batch)


def test_money_in_live_and_paused_campaigns_is_reserved_and_listed_per_campaign(api):
    brand = api.brand()
    deposit(api, brand, 100_000)
    spring, _ = _live_campaign(api, brand, 30_000, name="Spring scan and win")
    summer, _ = _live_campaign(api, brand, 20_000, name="Summer scan and win")
    api.post(f"/api/v1/brand/campaigns/{summer['id']}/pause", who=brand, expect=200)
    body = api.get(BALANCE, who=brand, expect=200).json
    assert (body["budget_fen"], body["reserved_fen"], body["revenue_fen"], body["deposited_fen"]) == (
        50_000,
        50_000,
        0,
        100_000,
    )
    assert [(c["id"], c["name"], c["status"], c["held_fen"]) for c in body["campaigns"]] == [
        (summer["id"], "Summer scan and win", "paused", 20_000),
        (spring["id"], "Spring scan and win", "active", 30_000),
    ]
    assert body["reserved_fen"] == sum(c["held_fen"] for c in body["campaigns"])


def test_a_campaigns_coupons_stay_reserved_until_used_and_an_ended_campaign_keeps_only_what_they_hold(api):
    brand = api.brand()
    deposit(api, brand, 100_000)
    store = api.store(partner_of=brand)
    campaign, codes = _live_campaign(api, brand, 30_000)
    won = [scan(api, api.consumer(), code["token"]).json["rewards"][0] for code in codes[:2]]  # two ¥5 coupons
    held = api.get(BALANCE, who=brand).json["campaigns"][0]
    assert (held["held_fen"], held["committed_fen"], held["remaining_budget_fen"]) == (30_000, 1_000, 29_000)

    api.post("/api/v1/store/redemptions", {"coupon_code": won[0]["code"]}, who=store, expect=200)
    body = api.get(BALANCE, who=brand).json
    assert (body["reserved_fen"], body["campaigns"][0]["held_fen"]) == (29_500, 29_500)  # ¥5 went to the store

    api.post(f"/api/v1/brand/campaigns/{campaign['id']}/end", who=brand, expect=200)
    body = api.get(BALANCE, who=brand).json
    assert (body["budget_fen"], body["reserved_fen"]) == (99_000, 500)  # ¥5 spent; the unused coupon holds ¥5
    assert [(c["status"], c["held_fen"], c["committed_fen"]) for c in body["campaigns"]] == [("ended", 500, 500)]


def test_an_ended_campaign_whose_coupons_expired_holds_nothing_and_is_not_listed(api, app):
    brand = api.brand()
    deposit(api, brand, 100_000)
    campaign, codes = _live_campaign(api, brand, 30_000)
    scan(api, api.consumer(), codes[0]["token"])
    api.post(f"/api/v1/brand/campaigns/{campaign['id']}/end", who=brand, expect=200)
    with db.session_scope(app) as session:
        for coupon in session.scalars(select(Coupon)):
            coupon.expires_at -= timedelta(days=31)
    app.test_cli_runner().invoke(args=["jobs", "run-due"])
    body = api.get(BALANCE, who=brand).json
    assert (body["budget_fen"], body["reserved_fen"], body["campaigns"]) == (100_000, 0, [])


def test_a_brand_sees_only_its_own_campaigns(api):
    mine, theirs = api.brand(), api.brand()
    deposit(api, theirs, 50_000)
    _live_campaign(api, theirs, 40_000)
    body = api.get(BALANCE, who=mine).json
    assert (body["reserved_fen"], body["campaigns"]) == (0, [])
    assert api.get(BALANCE, who=theirs).json["reserved_fen"] == 40_000


def test_the_brand_balance_is_documented_with_an_example(client):
    operation = client.get("/api/openapi.json").json["paths"]["/api/v1/brand/balance"]["get"]
    assert operation["summary"] and {"401", "403"} <= set(operation["responses"])
    assert client.get("/api/openapi.json").json["components"]["schemas"]["CampaignHoldingOut"]["properties"]
