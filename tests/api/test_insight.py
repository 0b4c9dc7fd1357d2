"""Brand insight through the API: a small known world's figures, exactly, from the rollups; another
brand sees none of it; campaign ROI; the store ranking; the scans CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

import db
from codes.models import Scan
from insight.models import BLOCK_DAYS, PHASE_SHIFTS
from insight.rollups import day_start, shanghai_day
from insight.stats import EPOCH, block_masks, day_number
from storefront.models import Order, OrderStatus
from tests.factories import deposit, notify_payment, scan, scan_campaign

SHANGHAI = (31.2304, 121.4737)
BEIJING = (39.9042, 116.4074)


def shanghai_today():
    return (datetime.now(UTC) + timedelta(hours=8)).date()


def run_rollups(app):
    result = app.test_cli_runner().invoke(args=["jobs", "run-due"])
    assert result.exit_code == 0 and "rollups:" in result.output, result.output


@pytest.fixture
def settled(app, monkeypatch):
    """The rollups take scans as soon as they are committed (no settle time)."""
    monkeypatch.setitem(app.config, "INSIGHT_SETTLE_SECONDS", 0)


def order(api, consumer, store, product, quantity, coupon_id=None):
    body = {"store_id": store.id, "items": [{"product_id": product["id"], "quantity": quantity}]}
    if coupon_id:
        body["coupon_id"] = coupon_id
    placed = api.post("/api/v1/orders", body, who=consumer, expect=201).json
    notify_payment(api, placed, expect=200)
    return placed


@pytest.fixture
def world(api, app, settled):
    """A dairy with milk (in a scan-and-win campaign) and yoghurt; a Shanghai store that received a case
    of 6 milks and a Beijing store. Ann scans two milks (one yesterday) and pays with a coupon; Bob
    scans a milk Ann scanned and another, and orders; Cy scans a yoghurt in Beijing, and orders."""
    brand = api.brand("Bright Dairy")
    deposit(api, brand, 1_000_000)
    shanghai = api.store(
        name="Shanghai store", lat=SHANGHAI[0], lng=SHANGHAI[1], region_code="310101", partner_of=brand
    )
    beijing = api.store(name="Beijing store", lat=BEIJING[0], lng=BEIJING[1], region_code="110101", partner_of=brand)
    milk = api.product(brand, name="Milk", price_fen=1200, cost_fen=700)
    yoghurt = api.product(brand, name="Yoghurt", price_fen=800, cost_fen=400)
    items = api.batch(brand, product=milk, quantity=6, region_codes=["310000"])
    cases = api.batch(brand, product=milk, quantity=1, kind="case", region_codes=["310000"])
    cups = api.batch(brand, product=yoghurt, quantity=3, region_codes=["110000"])
    milks, case, cup = api.codes(brand, items), api.codes(brand, cases)[0], api.codes(brand, cups)
    api.post(
        "/api/v1/brand/aggregations",
        {"parent": case["token"], "children": [c["token"] for c in milks]},
        who=brand,
        expect=201,
    )
    api.post(
        "/api/v1/brand/split-rules",
        {"store_percent": 10, "platform_percent": 5, "referrer_percent": 0, "referrer2_percent": 0},
        who=brand,
        expect=201,
    )
    api.post("/api/v1/store/receipts", {"code": case["token"]}, who=shanghai, expect=200)
    campaign = scan_campaign(api, brand, [milk["id"]], budget_fen=10_000)
    ann, bob, cy = api.consumer(), api.consumer(), api.consumer()
    lat, lng = SHANGHAI
    first = scan(api, ann, milks[0]["token"], lat=lat, lng=lng).json
    scan(api, ann, milks[1]["token"], lat=lat, lng=lng)
    scan(api, bob, milks[0]["token"], lat=lat, lng=lng)  # a repeat scan: no first scan, no coupon
    scan(api, bob, milks[2]["token"], lat=lat, lng=lng)
    scan(api, cy, cup[0]["token"], lat=BEIJING[0], lng=BEIJING[1])
    with db.session_scope(app) as session:  # Ann's second milk was scanned yesterday
        moved = session.scalars(select(Scan).where(Scan.serial == milks[1]["serial"])).one()
        moved.at -= timedelta(days=1)
    order(api, ann, shanghai, milk, 2, first["rewards"][0]["coupon_id"])  # 2400 - 500 = 1900
    order(api, bob, shanghai, milk, 1)  # 1200, by a consumer the campaign rewarded
    order(api, cy, beijing, yoghurt, 1)  # 800, by one it did not
    run_rollups(app)
    return {
        "brand": brand,
        "shanghai": shanghai,
        "beijing": beijing,
        "milk": milk,
        "yoghurt": yoghurt,
        "campaign": campaign,
        "consumers": (ann, bob, cy),
    }


def stats(api, brand, **query):
    today = shanghai_today()
    query = {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat(), **query}
    path = "/api/v1/brand/stats?" + "&".join(f"{k}={v}" for k, v in query.items())
    return api.get(path, who=brand, expect=200).json


def test_totals_of_a_known_world_are_exact(api, world):
    totals = stats(api, world["brand"])["totals"]
    assert totals == {
        "scans": 5,
        "first_scans": 4,
        "unique_consumers": 3,
        "repeat_consumers": 1,  # Ann: first scans on two days
        "repurchase_rate": 0.3333,
        "coupons_issued": 3,
        "coupons_redeemed": 1,
        "reward_cost_fen": 500,
        "orders": 3,
        "order_revenue_fen": 1900 + 1200 + 800,
        "receipts": 1,
    }


def test_the_day_series_sums_to_the_totals(api, world):
    body = stats(api, world["brand"])
    today = shanghai_today()
    days = {row["key"]: row for row in body["series"]}
    assert list(days) == [(today - timedelta(days=1)).isoformat(), today.isoformat()]
    yesterday, now = days.values()
    assert (yesterday["scans"], yesterday["first_scans"], yesterday["unique_consumers"]) == (1, 1, 1)
    assert (now["scans"], now["first_scans"], now["unique_consumers"]) == (4, 3, 3)
    for figure in ("scans", "first_scans", "coupons_issued", "coupons_redeemed", "reward_cost_fen"):
        assert sum(row[figure] for row in body["series"]) == body["totals"][figure], figure


def test_series_by_region_product_and_store(api, world):
    by_region = {r["key"]: r for r in stats(api, world["brand"], group_by="region")["series"]}
    assert by_region["310101"]["scans"] == 4 and by_region["310101"]["unique_consumers"] == 2
    assert by_region["310101"]["coupons_issued"] == 3
    assert by_region["110101"]["scans"] == 1 and by_region["110101"]["coupons_issued"] == 0
    by_product = {r["key"]: r for r in stats(api, world["brand"], group_by="product")["series"]}
    assert by_product[world["milk"]["id"]]["first_scans"] == 3
    assert by_product[world["yoghurt"]["id"]]["first_scans"] == 1
    by_store = {r["key"]: r for r in stats(api, world["brand"], group_by="store")["series"]}
    assert by_store[world["shanghai"].id]["scans"] == 4  # the case's milks are bound to it
    assert by_store[""]["scans"] == 1  # the yoghurt was never received by a store


def test_filters_narrow_the_figures(api, world):
    shanghai = stats(api, world["brand"], region_code="310101")["totals"]
    assert (shanghai["scans"], shanghai["unique_consumers"], shanghai["repeat_consumers"]) == (4, 2, 1)
    assert shanghai["repurchase_rate"] == 0.5 and shanghai["orders"] == 2 and shanghai["receipts"] == 1
    yoghurt = stats(api, world["brand"], product_id=world["yoghurt"]["id"])["totals"]
    assert (yoghurt["scans"], yoghurt["coupons_issued"], yoghurt["receipts"]) == (1, 0, 0)


def test_another_brand_sees_none_of_it(api, world):
    other = api.brand("Someone else")
    totals = stats(api, other)["totals"]
    assert all(value == 0 for value in totals.values()), totals
    assert api.get(f"/api/v1/brand/campaigns/{world['campaign']['id']}/stats", who=other).status_code == 404
    assert api.get("/api/v1/brand/stores/ranking", who=other, expect=200).json["items"] == []
    lines = api.get("/api/v1/brand/scans.csv", who=other, expect=200).get_data(as_text=True).splitlines()
    assert len(lines) == 1 and lines[0].startswith("scan_id,")


def test_campaign_stats_attribute_coupon_orders_and_rewarded_consumers_orders(api, world):
    body = api.get(f"/api/v1/brand/campaigns/{world['campaign']['id']}/stats", who=world["brand"], expect=200).json
    assert (body["issued"], body["redeemed"], body["cost_fen"]) == (3, 1, 500)
    assert (body["attributed_orders"], body["attributed_revenue_fen"]) == (2, 1900 + 1200)  # not Cy's
    assert body["roi"] == round((3100 - 500) / 500, 4)


def test_store_ranking(api, world):
    ranking = api.get("/api/v1/brand/stores/ranking?by=sell_through", who=world["brand"], expect=200).json
    first, second = ranking["items"]
    assert (first["store_id"], first["rank"], first["sell_through"]) == (world["shanghai"].id, 1, 3)
    assert (first["receipts"], first["received_items"], first["redemptions"]) == (1, 6, 1)
    assert (second["store_id"], second["sell_through"], second["receipts"]) == (world["beijing"].id, 0, 0)
    page = api.get("/api/v1/brand/stores/ranking?by=sell_through&limit=1", who=world["brand"], expect=200).json
    assert [s["store_id"] for s in page["items"]] == [world["shanghai"].id] and page["next_cursor"]
    rest = api.get(
        f"/api/v1/brand/stores/ranking?by=sell_through&limit=1&cursor={page['next_cursor']}", who=world["brand"]
    ).json
    assert [s["store_id"] for s in rest["items"]] == [world["beijing"].id] and rest["next_cursor"] is None


def test_scans_csv_lists_every_scan_of_the_window(api, world):
    r = api.get("/api/v1/brand/scans.csv", who=world["brand"], expect=200)
    assert r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert len(rows) == 5
    assert sorted(row["verdict"] for row in rows) == ["genuine"] * 4 + ["genuine_repeat"]
    assert {row["region_code"] for row in rows} == {"310101", "110101"}
    assert all(row["at"].endswith("Z") for row in rows)


def test_rollups_run_twice_count_once(api, app, world):
    run_rollups(app)
    run_rollups(app)
    assert stats(api, world["brand"])["totals"]["scans"] == 5


def test_new_scans_are_added_by_the_next_run(api, app, world):
    api_consumer = api.consumer()
    milk = api.batch(world["brand"], product=world["milk"], quantity=1)
    scan(api, api_consumer, api.codes(world["brand"], milk)[0]["token"])
    assert stats(api, world["brand"])["totals"]["scans"] == 5
    run_rollups(app)
    totals = stats(api, world["brand"])["totals"]
    assert (totals["scans"], totals["unique_consumers"], totals["coupons_issued"]) == (6, 4, 4)


@pytest.mark.parametrize(
    "query, field",
    [
        ("group_by=week", "group_by"),
        ("from=2026-13-01", "from"),
        ("from=2026-12-02&to=2026-12-01", "to"),
        ("from=2020-01-01&to=2026-01-01", "to"),
        ("region_code=31", "region_code"),
    ],
)
def test_bad_statistics_queries_name_the_field(api, world, query, field):
    r = api.get(f"/api/v1/brand/stats?{query}", who=world["brand"], expect=422)
    assert field in r.json["error"]["fields"]


def test_statistics_need_a_brand_key(api, world):
    assert api.get("/api/v1/brand/stats").status_code == 401
    assert api.get("/api/v1/brand/stats", who=world["shanghai"]).status_code == 403


# --- consumers' day marks: the unfiltered unique and repeat consumers ---------------------------------
def raw_consumers(app, brand_id, first, last) -> dict:
    """Unique consumers, consumers with a first scan, repeat consumers and each day's unique consumers
    of the window, from the scans table itself."""
    days: dict = {}
    with db.session_scope(app) as session:
        for consumer, verdict, at in session.execute(
            select(Scan.consumer_id, Scan.verdict, Scan.at).where(Scan.brand_id == brand_id)
        ):
            day = shanghai_day(at)
            if consumer is None or not first <= day <= last:
                continue
            seen = days.setdefault(consumer, {})
            seen[day] = seen.get(day, False) or verdict == "genuine"
    firsts = {c: sum(seen.values()) for c, seen in days.items()}
    per_day: dict = {}
    for seen in days.values():
        for day in seen:
            per_day[day.isoformat()] = per_day.get(day.isoformat(), 0) + 1
    return {
        "unique_consumers": len(days),
        "with_first": sum(1 for n in firsts.values() if n >= 1),
        "repeat_consumers": sum(1 for n in firsts.values() if n >= 2),
        "per_day": per_day,
    }


@pytest.fixture
def block_edge(api, app, settled):
    """Scans on the two days either side of a ConsumerMarks block edge E (E's day number a multiple of
    BLOCK_DAYS): Ann first-scans on E-1 and E (two days in two blocks), Bob on E-2 and E-1 (two days in
    one block), Cy only repeat-scans on E+1, Di first-scans twice on E (one day), and an anonymous scan."""
    brand = api.brand("Edge Dairy")
    product = api.product(brand, name="Milk")
    codes = api.codes(brand, api.batch(brand, product=product, quantity=8))
    today = shanghai_today()
    edge = today - timedelta(days=5)
    while day_number(edge) % BLOCK_DAYS:
        edge -= timedelta(days=1)
    ann, bob, cy, di = (api.consumer() for _ in range(4))
    plan = [
        (ann, 0, -1),
        (ann, 1, 0),
        (bob, 2, -2),
        (bob, 3, -1),
        (cy, 0, 1),  # a repeat scan of Ann's code: a consumer of the day, no first scan
        (di, 4, 0),
        (di, 5, 0),
    ]
    for who, code, _offset in plan:
        scan(api, who, codes[code]["token"], lat=SHANGHAI[0], lng=SHANGHAI[1])
    with db.session_scope(app) as session:
        rows = session.scalars(select(Scan).where(Scan.brand_id == brand.id).order_by(Scan.id)).all()
        for row, (_who, _code, offset) in zip(rows, plan, strict=True):
            row.at = day_start(edge + timedelta(days=offset)) + timedelta(hours=10)
        session.add(Scan(serial=codes[6]["serial"], brand_id=brand.id, verdict="genuine", at=day_start(edge)))
    run_rollups(app)
    return {"brand": brand, "edge": edge, "product": product}


@pytest.mark.parametrize(
    "window",
    [(-2, -1), (-1, 0), (-2, 1), (0, 1), (-1, -1), (1, 1), (-31, 0), (-1, 30), (-30, 30), (-200, 0), (2, 3)],
)
def test_unique_and_repeat_consumers_equal_the_raw_rows_across_block_edges(api, app, block_edge, window):
    edge = block_edge["edge"]
    first, last = (edge + timedelta(days=d) for d in window)
    last = min(last, shanghai_today())
    query = {"from": first.isoformat(), "to": last.isoformat()}
    body = stats(api, block_edge["brand"], **query)
    raw = raw_consumers(app, block_edge["brand"].id, first, last)
    totals = body["totals"]
    assert (totals["unique_consumers"], totals["repeat_consumers"]) == (
        raw["unique_consumers"],
        raw["repeat_consumers"],
    )
    expected_rate = round(raw["repeat_consumers"] / raw["with_first"], 4) if raw["with_first"] else 0.0
    assert totals["repurchase_rate"] == expected_rate
    assert {r["key"]: r["unique_consumers"] for r in body["series"] if r["unique_consumers"]} == raw["per_day"]
    # The filtered path (consumers' days per cell) agrees with the marks (the anonymous scan has no product).
    filtered = stats(api, block_edge["brand"], product_id=block_edge["product"]["id"], **query)["totals"]
    assert (filtered["unique_consumers"], filtered["repeat_consumers"]) == (
        totals["unique_consumers"],
        totals["repeat_consumers"],
    )


def test_the_block_edge_world_reads_as_planned(api, app, block_edge):
    edge = block_edge["edge"]
    totals = stats(
        api,
        block_edge["brand"],
        **{"from": (edge - timedelta(days=2)).isoformat(), "to": (edge + timedelta(days=1)).isoformat()},
    )["totals"]
    assert (totals["scans"], totals["unique_consumers"], totals["repeat_consumers"]) == (8, 4, 2)  # Ann and Bob
    assert totals["repurchase_rate"] == round(2 / 3, 4)  # of Ann, Bob and Di
    around = stats(api, block_edge["brand"], **{"from": (edge - timedelta(days=1)).isoformat(), "to": edge.isoformat()})
    assert around["totals"]["repeat_consumers"] == 1  # Ann, whose two days sit in two blocks
    assert [r["unique_consumers"] for r in around["series"]] == [2, 2]  # Ann and Bob; Ann and Di


def test_rollups_run_again_add_no_consumer_twice(api, app, block_edge):
    edge = block_edge["edge"]
    query = {"from": (edge - timedelta(days=2)).isoformat(), "to": (edge + timedelta(days=1)).isoformat()}
    before = stats(api, block_edge["brand"], **query)
    run_rollups(app)
    assert stats(api, block_edge["brand"], **query) == before


@pytest.mark.parametrize(
    "first, last, masks",
    [
        ((0, 0), (0, 0), {0: 1}),
        ((0, 62), (0, 62), {0: 1 << 62}),
        ((0, 60), (1, 1), {0: 0b111 << 60, 1: 0b11}),
        ((0, 0), (2, 0), {0: (1 << 63) - 1, 1: (1 << 63) - 1, 2: 1}),
    ],
)
def test_block_masks_cover_exactly_the_windows_days(first, last, masks):
    def day(block_and_bit):
        block, bit = block_and_bit
        return EPOCH + timedelta(days=block * BLOCK_DAYS + bit)

    assert block_masks(day(first), day(last)) == masks


def test_a_window_of_up_to_32_days_lies_in_one_block_of_one_phase():
    for start in range(BLOCK_DAYS):
        first = EPOCH + timedelta(days=BLOCK_DAYS * 300 + start)
        last = first + timedelta(days=31)
        assert min(len(block_masks(first, last, shift)) for shift in PHASE_SHIFTS) == 1, start
    shifted = block_masks(EPOCH + timedelta(days=31), EPOCH + timedelta(days=33), shift=31)
    assert shifted == {0: 0b111}


# --- orders and refunds -------------------------------------------------------------------------------
def test_orders_count_paid_money_net_of_refunds(api, app, world):
    """A refund asked for and undecided keeps the order; a partial refund keeps it at what was kept; a
    whole refund drops it (status, refunded_fen and refunded_at set as storefront.payments.refunds does)."""
    ann, bob, cy = world["consumers"]
    with db.session_scope(app) as session:
        orders = {o.consumer_id: o for o in session.scalars(select(Order).where(Order.brand_id == world["brand"].id))}
        now = datetime.now(UTC).replace(tzinfo=None)
        orders[ann.id].status = OrderStatus.REFUND_REQUESTED
        orders[bob.id].status, orders[bob.id].refunded_fen, orders[bob.id].refunded_at = (
            OrderStatus.PARTIALLY_REFUNDED,
            500,
            now,
        )
        orders[cy.id].status, orders[cy.id].refunded_fen, orders[cy.id].refunded_at = OrderStatus.REFUNDED, 800, now
    run_rollups(app)
    totals = stats(api, world["brand"])["totals"]
    assert (totals["orders"], totals["order_revenue_fen"]) == (2, 1900 + 700)
    beijing = stats(api, world["brand"], region_code="110101")["totals"]
    assert (beijing["orders"], beijing["order_revenue_fen"]) == (0, 0)
    body = api.get(f"/api/v1/brand/campaigns/{world['campaign']['id']}/stats", who=world["brand"], expect=200).json
    assert (body["attributed_orders"], body["attributed_revenue_fen"]) == (2, 1900 + 700)
    assert body["roi"] == round((2600 - 500) / 500, 4)
