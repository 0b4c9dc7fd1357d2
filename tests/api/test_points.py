"""The wallet's points: what points prizes add up to, per brand, and where each came from."""

from datetime import timedelta

from sqlalchemy import select

import db
from loyalty.models import Coupon
from tests.factories import deposit, scan, scan_campaign

POINTS = "/api/v1/me/points"


def _points_campaign(api, brand, points, quantity=3, name="Points for every bottle"):
    deposit(api, brand, 10_000)
    batch = api.batch(brand, quantity=quantity)
    tiers = [{"probability": 1.0, "reward": {"kind": "points", "value_fen": points, "valid_days": 30}}]
    campaign = scan_campaign(api, brand, [batch["product"]["id"]], tiers=tiers, budget_fen=1_000, name=name)
    return campaign, api.codes(brand, batch)


def test_a_new_consumer_has_no_points(api):
    assert api.get(POINTS, who=api.consumer(), expect=200).json == {
        "balance": 0,
        "brands": [],
        "items": [],
        "next_cursor": None,
    }


def test_points_prizes_add_up_per_brand_with_each_grant_listed_newest_first(api):
    dairy, juice = api.brand("Bright Dairy"), api.brand("Sunny Juice")
    milk, milk_codes = _points_campaign(api, dairy, 50, name="Milk points")
    oj, oj_codes = _points_campaign(api, juice, 20, name="Juice points")
    consumer = api.consumer()
    for code in (milk_codes[0], oj_codes[0], milk_codes[1]):
        scan(api, consumer, code["token"])
    body = api.get(POINTS, who=consumer, expect=200).json
    assert body["balance"] == 120
    assert [(b["brand_id"], b["brand_name"], b["points"]) for b in body["brands"]] == [
        (dairy.id, "Bright Dairy", 100),
        (juice.id, "Sunny Juice", 20),
    ]
    assert [
        (i["points"], i["campaign_id"], i["campaign_name"], i["brand_name"], i["status"]) for i in body["items"]
    ] == [
        (50, milk["id"], "Milk points", "Bright Dairy", "active"),
        (20, oj["id"], "Juice points", "Sunny Juice", "active"),
        (50, milk["id"], "Milk points", "Bright Dairy", "active"),
    ]
    assert [i["serial"] for i in body["items"]] == [
        milk_codes[1]["serial"],
        oj_codes[0]["serial"],
        milk_codes[0]["serial"],
    ]
    coupons = {c["coupon_id"] for c in api.get("/api/v1/me/coupons", who=consumer).json["items"]}
    assert {i["coupon_id"] for i in body["items"]} == coupons  # each grant is the points coupon the scan returned
    assert all(i["at"].endswith("Z") and i["expires_at"].endswith("Z") for i in body["items"])


def test_a_consumer_sees_only_their_own_points(api):
    brand = api.brand()
    _, codes = _points_campaign(api, brand, 30)
    winner, other = api.consumer(), api.consumer()
    scan(api, winner, codes[0]["token"])
    assert api.get(POINTS, who=other).json == {"balance": 0, "brands": [], "items": [], "next_cursor": None}
    assert api.get(POINTS, who=winner).json["balance"] == 30


def test_cash_coupons_are_not_points(api):
    brand = api.brand()
    deposit(api, brand, 10_000)
    batch = api.batch(brand, quantity=1)
    scan_campaign(api, brand, [batch["product"]["id"]], budget_fen=5_000)  # a ¥5 brand coupon per scan
    consumer = api.consumer()
    scan(api, consumer, api.codes(brand, batch)[0]["token"])
    assert api.get(POINTS, who=consumer).json["items"] == []


def test_expired_points_stay_in_the_history_but_leave_the_balance(api, app):
    brand = api.brand()
    _, codes = _points_campaign(api, brand, 40)
    consumer = api.consumer()
    scan(api, consumer, codes[0]["token"])
    scan(api, consumer, codes[1]["token"])
    with db.session_scope(app) as session:
        first = session.scalars(select(Coupon).order_by(Coupon.issued_at, Coupon.id)).first()
        first.expires_at -= timedelta(days=31)
    body = api.get(POINTS, who=consumer).json
    assert body["balance"] == 40 and [i["status"] for i in body["items"]] == ["active", "expired"]
    app.test_cli_runner().invoke(args=["jobs", "run-due"])  # the sweep marks it expired: the same answer
    assert api.get(POINTS, who=consumer).json == body


def test_points_history_pages_with_a_cursor(api):
    brand = api.brand()
    _, codes = _points_campaign(api, brand, 10, quantity=5)
    consumer = api.consumer()
    for code in codes:
        scan(api, consumer, code["token"])
    seen, cursor = [], None
    while True:
        r = api.get(POINTS + "?limit=2" + (f"&cursor={cursor}" if cursor else ""), who=consumer, expect=200).json
        assert r["balance"] == 50
        seen += [i["id"] for i in r["items"]]
        cursor = r["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5


def test_points_need_a_consumer(api):
    assert api.get(POINTS).status_code == 401
    assert api.get(POINTS, who=api.brand()).status_code == 403
    assert api.get(POINTS, who=api.store()).status_code == 403
    r = api.get(POINTS + "?limit=0", who=api.consumer())
    assert r.status_code == 422 and "limit" in r.json["error"]["fields"]
