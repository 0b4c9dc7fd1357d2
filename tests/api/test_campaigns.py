"""Scan-reward campaigns: validation, budget reservation, draws, caps and the budget race."""

import pytest

import db
from bench.support import all_at_once
from loyalty import draw
from storefront.ledger import accounts, audit
from tests.factories import deposit, scan, scan_campaign


def _brand_balance(api, brand):
    return api.get("/api/v1/brand/balance", who=brand, expect=200).json["balance_fen"]


def test_creating_a_campaign_reserves_its_budget_from_the_brand(api):
    brand = api.brand()
    deposit(api, brand, 50_000)
    product = api.product(brand)
    campaign = scan_campaign(api, brand, [product["id"]], budget_fen=30_000)
    assert _brand_balance(api, brand) == 20_000
    assert campaign["remaining_budget_fen"] == 30_000 and campaign["status"] == "active" and campaign["live"]
    assert campaign["seed"] is None and len(campaign["seed_sha256"]) == 64


def test_a_budget_above_the_funded_balance_is_refused_and_nothing_moves(api):
    brand = api.brand()
    deposit(api, brand, 1_000)
    product = api.product(brand)
    r = api.post(
        "/api/v1/brand/campaigns",
        {
            "type": "scan_reward",
            "name": "too big",
            "starts_at": "2026-01-01T00:00:00Z",
            "ends_at": "2099-01-01T00:00:00Z",
            "product_ids": [product["id"]],
            "budget_fen": 1_001,
            "tiers": [{"probability": 0.5, "reward": {"kind": "brand_coupon", "value_fen": 100}}],
        },
        who=brand,
        expect=409,
    )
    assert r.json["error"]["code"] == "insufficient_funds" and "budget_fen" in r.json["error"]["fields"]
    assert _brand_balance(api, brand) == 1_000


@pytest.mark.parametrize(
    "change,field",
    [
        (
            {
                "tiers": [
                    {"probability": 0.7, "reward": {"kind": "brand_coupon", "value_fen": 1}},
                    {"probability": 0.4, "reward": {"kind": "points", "value_fen": 1}},
                ]
            },
            "tiers",
        ),
        ({"tiers": [{"probability": 0.5, "reward": {"kind": "cash", "value_fen": 1}}]}, "tiers"),
        ({"tiers": [{"probability": 0.5, "reward": {"kind": "brand_coupon"}}]}, "tiers"),
        ({"tiers": []}, "tiers"),
        ({"ends_at": "2020-01-01T00:00:00Z"}, "ends_at"),
        ({"starts_at": "not a time"}, "starts_at"),
        ({"product_ids": ["pr_nope"]}, "product_ids"),
        ({"region_codes": ["abc"]}, "region_codes"),
        ({"budget_fen": -5}, "budget_fen"),
        ({"type": "lottery"}, "type"),
        ({"type": "group_buy"}, "product_id"),  # a group-buy body lacks its own fields
    ],
)
def test_invalid_campaigns_name_the_field_and_reserve_nothing(api, change, field):
    brand = api.brand()
    deposit(api, brand, 10_000)
    product = api.product(brand)
    body = {
        "type": "scan_reward",
        "name": "x",
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "product_ids": [product["id"]],
        "budget_fen": 1_000,
        "tiers": [{"probability": 0.5, "reward": {"kind": "brand_coupon", "value_fen": 100}}],
    }
    body.update(change)
    r = api.post("/api/v1/brand/campaigns", body, who=brand, expect=422)
    assert field in r.json["error"]["fields"]
    assert _brand_balance(api, brand) == 10_000


def test_a_brand_cannot_run_a_campaign_on_another_brands_product(api):
    brand, other = api.brand(), api.brand()
    deposit(api, brand, 10_000)
    foreign = api.product(other)
    body = {
        "type": "scan_reward",
        "name": "x",
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "product_ids": [foreign["id"]],
        "budget_fen": 1_000,
        "tiers": [{"probability": 0.5, "reward": {"kind": "brand_coupon", "value_fen": 100}}],
    }
    assert "product_ids" in api.post("/api/v1/brand/campaigns", body, who=brand, expect=422).json["error"]["fields"]


def test_campaigns_are_private_to_their_brand(api):
    brand, other = api.brand(), api.brand()
    deposit(api, brand, 10_000)
    campaign = scan_campaign(api, brand, [api.product(brand)["id"]], budget_fen=1_000)
    assert api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=other).status_code == 403
    for action in ("pause", "resume", "end"):
        assert api.post(f"/api/v1/brand/campaigns/{campaign['id']}/{action}", who=other).status_code == 403
    assert api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=api.consumer()).status_code == 403


def test_paused_campaigns_reward_nothing_until_resumed(api):
    brand = api.brand()
    deposit(api, brand, 10_000)
    batch = api.batch(brand, quantity=3)
    codes = api.codes(brand, batch)
    campaign = scan_campaign(api, brand, [batch["product"]["id"]], budget_fen=5_000)
    api.post(f"/api/v1/brand/campaigns/{campaign['id']}/pause", who=brand, expect=200)
    assert scan(api, api.consumer(), codes[0]["token"]).json["rewards"] == []
    api.post(f"/api/v1/brand/campaigns/{campaign['id']}/resume", who=brand, expect=200)
    assert len(scan(api, api.consumer(), codes[1]["token"]).json["rewards"]) == 1


def test_ending_a_campaign_returns_the_unused_budget_and_reveals_the_seed(api):
    brand = api.brand()
    deposit(api, brand, 10_000)
    batch = api.batch(brand, quantity=3)
    codes = api.codes(brand, batch)
    campaign = scan_campaign(api, brand, [batch["product"]["id"]], budget_fen=5_000)
    scan(api, api.consumer(), codes[0]["token"])  # commits 500
    ended = api.post(f"/api/v1/brand/campaigns/{campaign['id']}/end", who=brand, expect=200).json
    assert ended["status"] == "ended" and ended["released_fen"] == 4_500
    assert _brand_balance(api, brand) == 10_000 - 500
    assert draw.commitment(bytes.fromhex(ended["seed"])) == campaign["seed_sha256"]
    assert api.post(f"/api/v1/brand/campaigns/{campaign['id']}/end", who=brand).status_code == 409
    assert scan(api, api.consumer(), codes[1]["token"]).json["rewards"] == []


def test_the_draw_is_deterministic_and_auditable_from_the_revealed_seed(api):
    brand = api.brand()
    deposit(api, brand, 100_000)
    batch = api.batch(brand, quantity=40)
    codes = api.codes(brand, batch)
    tiers = [
        {"probability": 0.3, "reward": {"kind": "brand_coupon", "value_fen": 100}},
        {"probability": 0.2, "reward": {"kind": "points", "value_fen": 10}},
    ]
    campaign = scan_campaign(api, brand, [batch["product"]["id"]], tiers=tiers, budget_fen=50_000)
    kinds = {}
    for row in codes:
        rewards = scan(api, api.consumer(), row["token"]).json["rewards"]
        kinds[row["serial"]] = rewards[0]["kind"] if rewards else None
    seed = bytes.fromhex(api.post(f"/api/v1/brand/campaigns/{campaign['id']}/end", who=brand).json["seed"])
    names = {0: "brand_coupon", 1: "points", None: None}
    assert kinds == {s: names[draw.draw(seed, s, [0.3, 0.2])] for s in kinds}


def test_prize_frequencies_match_the_configured_odds():
    seed = bytes(range(32))
    n, probabilities = 20_000, [0.05, 0.25]
    counts = [0, 0, 0]
    for serial in range(n):
        tier = draw.draw(seed, serial, probabilities)
        counts[2 if tier is None else tier] += 1
    for observed, p in zip(counts, probabilities + [0.70]):
        sigma = (n * p * (1 - p)) ** 0.5
        assert abs(observed - n * p) < 5 * sigma, (observed, n * p)


def test_per_consumer_daily_and_total_caps(api):
    brand = api.brand()
    deposit(api, brand, 100_000)
    batch = api.batch(brand, quantity=10)
    codes = api.codes(brand, batch)
    scan_campaign(api, brand, [batch["product"]["id"]], budget_fen=50_000, per_consumer_daily=2, per_consumer_total=3)
    consumer = api.consumer()
    won = [bool(scan(api, consumer, codes[i]["token"]).json["rewards"]) for i in range(4)]
    assert won == [True, True, False, False]
    assert scan(api, api.consumer(), codes[5]["token"]).json["rewards"], "other consumers are not capped"


def test_max_rewards_caps_the_count(api):
    brand = api.brand()
    deposit(api, brand, 100_000)
    batch = api.batch(brand, quantity=5)
    codes = api.codes(brand, batch)
    campaign = scan_campaign(api, brand, [batch["product"]["id"]], budget_fen=50_000, max_rewards=2)
    won = [bool(scan(api, api.consumer(), c["token"]).json["rewards"]) for c in codes]
    assert won == [True, True, False, False, False]
    assert api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=brand).json["issued"] == 2


def test_a_sold_out_tier_falls_back_to_no_prize(api):
    brand = api.brand()
    deposit(api, brand, 100_000)
    batch = api.batch(brand, quantity=4)
    codes = api.codes(brand, batch)
    tiers = [{"probability": 1.0, "max_count": 1, "reward": {"kind": "brand_coupon", "value_fen": 100}}]
    scan_campaign(api, brand, [batch["product"]["id"]], tiers=tiers, budget_fen=50_000)
    won = [bool(scan(api, api.consumer(), c["token"]).json["rewards"]) for c in codes]
    assert won == [True, False, False, False]


def test_region_targeting_uses_the_consumers_location(api):
    brand = api.brand()
    deposit(api, brand, 100_000)
    api.store(lat=31.23, lng=121.47, region_code="310101", partner_of=brand)  # Shanghai
    api.store(lat=39.90, lng=116.40, region_code="110101", partner_of=brand)  # Beijing
    batch = api.batch(brand, quantity=4)
    codes = api.codes(brand, batch)
    scan_campaign(api, brand, [batch["product"]["id"]], budget_fen=50_000, region_codes=["310000"])
    assert scan(api, api.consumer(), codes[0]["token"], lat=31.231, lng=121.471).json["rewards"]
    assert not scan(api, api.consumer(), codes[1]["token"], lat=39.901, lng=116.401).json["rewards"]
    assert not scan(api, api.consumer(), codes[2]["token"]).json["rewards"], "unknown place: not in the region"


def test_store_coupons_go_to_a_nearby_partner_store_when_the_item_is_unbound(api):
    brand = api.brand()
    deposit(api, brand, 100_000)
    near = api.store(lat=31.2305, lng=121.4738, partner_of=brand)
    api.store(lat=31.30, lng=121.50, partner_of=brand)
    batch = api.batch(brand, quantity=3)
    codes = api.codes(brand, batch)
    tiers = [{"probability": 1.0, "reward": {"kind": "store_coupon", "value_fen": 300, "min_spend_fen": 2000}}]
    scan_campaign(api, brand, [batch["product"]["id"]], tiers=tiers, budget_fen=1_000)
    rewards = scan(api, api.consumer(), codes[0]["token"], lat=31.2304, lng=121.4737).json["rewards"]
    assert [(r["kind"], r["store_id"], r["min_spend_fen"]) for r in rewards] == [("store_coupon", near.id, 2000)]
    assert scan(api, api.consumer(), codes[1]["token"]).json["rewards"] == [], "no location, no store to honour it"


def test_more_winners_than_budget_never_overspends_and_the_ledger_is_exact(api, app):
    brand = api.brand()
    deposit(api, brand, 100_000)
    batch = api.batch(brand, quantity=30)
    codes = api.codes(brand, batch)
    campaign = scan_campaign(api, brand, [batch["product"]["id"]], budget_fen=2_000)  # room for 4 coupons of 500
    consumers = [api.consumer() for _ in range(30)]

    def phone(i, client):
        r = client.post("/api/v1/scans", json={"code": codes[i]["token"]}, headers=consumers[i].headers)
        return r.status_code, r.json

    results = all_at_once(30, lambda i: app.test_client(), phone)
    assert all(status == 200 for status, _ in results)
    assert sum(len(body["rewards"]) for _, body in results) == 4
    got = api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=brand).json
    assert (got["issued"], got["committed_fen"], got["remaining_budget_fen"]) == (4, 2_000, 0)
    with db.session_scope(app) as session:
        assert accounts.balance(session, ("campaign", campaign["id"], "reserve")) == 2_000
        assert audit.verify(session) == []


@pytest.mark.parametrize(
    "field,value", [("max_rewards", 2**31), ("per_consumer_daily", 2**40), ("per_consumer_total", 2**31)]
)
def test_limits_beyond_the_counters_range_are_refused(api, field, value):
    brand = api.brand()
    deposit(api, brand, 10_000)
    product = api.product(brand)
    body = {
        "type": "scan_reward",
        "name": "x",
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "product_ids": [product["id"]],
        "budget_fen": 1_000,
        field: value,
        "tiers": [{"probability": 0.5, "reward": {"kind": "brand_coupon", "value_fen": 100}}],
    }
    assert field in api.post("/api/v1/brand/campaigns", body, who=brand, expect=422).json["error"]["fields"]


def test_a_tier_stock_beyond_the_counters_range_is_refused(api):
    brand = api.brand()
    deposit(api, brand, 10_000)
    product = api.product(brand)
    body = {
        "type": "scan_reward",
        "name": "x",
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "product_ids": [product["id"]],
        "budget_fen": 1_000,
        "tiers": [{"probability": 0.5, "max_count": 2**63, "reward": {"kind": "brand_coupon", "value_fen": 100}}],
    }
    assert "tiers" in api.post("/api/v1/brand/campaigns", body, who=brand, expect=422).json["error"]["fields"]
