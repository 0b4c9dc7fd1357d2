"""API.md's conventions on every list and id: `{items, next_cursor}` pages with ?limit=&cursor=, each
tenant seeing only its own rows, ids as strings, times in UTC with a `Z`, JSON 404/405 on API paths."""

from __future__ import annotations

from tests.factories import Api, deposit, scan, scan_campaign


def walk(api: Api, path: str, who, limit: int = 1) -> list[dict]:
    """Every item of a list, one page of `limit` at a time, following next_cursor to the end."""
    items, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        query = f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(query, who=who, expect=200).json
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_partners_are_a_page_of_the_brands_own_stores(api):
    brand, other = api.brand(), api.brand()
    first, second = api.store(partner_of=brand), api.store(partner_of=brand)
    api.store(partner_of=other)
    assert [p["store_id"] for p in walk(api, "/api/v1/brand/partners", brand)] == [second.id, first.id]
    assert walk(api, "/api/v1/brand/partners", api.brand()) == []


def test_signing_keys_are_a_page_newest_first(api):
    brand = api.brand()
    old = api.batch(brand, quantity=1)["key_id"]
    new = api.post("/api/v1/brand/keys/rotate", who=brand, expect=201).json["key_id"]
    keys = walk(api, "/api/v1/brand/keys", brand)
    assert [k["key_id"] for k in keys] == [new, old]
    assert walk(api, "/api/v1/brand/keys", api.brand()) == []


def test_the_blacklist_is_a_page_of_the_brands_own_entries(api):
    brand, other = api.brand(), api.brand()
    first, second = api.consumer(), api.consumer()
    for consumer in (first, second):
        api.post("/api/v1/brand/blacklist", {"consumer_id": consumer.id}, who=brand, expect=201)
    assert [b["consumer_id"] for b in walk(api, "/api/v1/brand/blacklist", brand)] == [second.id, first.id]
    assert walk(api, "/api/v1/brand/blacklist", other) == []


def test_products_are_a_page_of_the_brands_own_catalogue(api):
    brand = api.brand()
    first, second = api.product(brand), api.product(brand)
    api.product(api.brand())
    assert [p["id"] for p in walk(api, "/api/v1/brand/products", brand)] == [second["id"], first["id"]]
    assert walk(api, "/api/v1/brand/products", api.brand()) == []


# --- lists users looked for and got 405 ---------------------------------------------------------


def test_a_brand_lists_its_own_campaigns_filtered_by_status(api):
    brand = api.brand()
    deposit(api, brand, 100_000)
    product = api.product(brand)
    first = scan_campaign(api, brand, [product["id"]], budget_fen=10_000)
    second = scan_campaign(api, brand, [product["id"]], budget_fen=10_000)
    api.post(f"/api/v1/brand/campaigns/{first['id']}/pause", who=brand, expect=200)
    assert [c["id"] for c in walk(api, "/api/v1/brand/campaigns", brand)] == [second["id"], first["id"]]
    assert [c["id"] for c in walk(api, "/api/v1/brand/campaigns?status=paused", brand)] == [first["id"]]
    assert walk(api, "/api/v1/brand/campaigns", api.brand()) == []
    r = api.get("/api/v1/brand/campaigns?status=sleeping", who=brand, expect=422)
    assert "status" in r.json["error"]["fields"]


def test_the_admin_lists_brands_and_stores_without_any_key(api):
    brand, store = api.brand("Listed Dairy"), api.store("Listed Shop")
    brands = walk(api, "/api/v1/admin/brands", api.admin, limit=500)
    stores = walk(api, "/api/v1/admin/stores", api.admin, limit=500)
    assert brand.id in [b["id"] for b in brands] and store.id in [s["id"] for s in stores]
    for row in brands + stores:
        assert not {"api_key", "key_hash", "secret"} & set(row)
        assert row["created_at"].endswith("Z")
    for who in (brand, store):
        assert api.get("/api/v1/admin/brands", who=who).status_code == 403
        assert api.get("/api/v1/admin/stores", who=who).status_code == 403


def test_a_brand_lists_its_own_split_rules_newest_first(api):
    brand = api.brand()
    rule = {"store_percent": 10, "platform_percent": 5, "referrer_percent": 0, "referrer2_percent": 0}
    old = api.post("/api/v1/brand/split-rules", rule, who=brand, expect=201).json
    new = api.post("/api/v1/brand/split-rules", {**rule, "store_percent": 12}, who=brand, expect=201).json
    rules = walk(api, "/api/v1/brand/split-rules", brand)
    assert [(r["id"], r["store_percent"]) for r in rules] == [(new["id"], 12), (old["id"], 10)]
    assert walk(api, "/api/v1/brand/split-rules", api.brand()) == []


def test_a_store_lists_its_own_receipts(api):
    brand = api.brand()
    store, other = api.store(partner_of=brand), api.store(partner_of=brand)
    product = api.product(brand)
    items = api.codes(brand, api.batch(brand, product=product, quantity=2))
    case = api.codes(brand, api.batch(brand, product=product, quantity=1, kind="case"))[0]
    children = [c["token"] for c in items]
    api.post("/api/v1/brand/aggregations", {"parent": case["token"], "children": children}, who=brand, expect=201)
    got = api.post("/api/v1/store/receipts", {"code": case["token"]}, who=store, expect=200).json
    receipts = walk(api, "/api/v1/store/receipts", store)
    assert [(r["receipt_id"], r["bound_items"], r["brand_id"]) for r in receipts] == [(got["receipt_id"], 2, brand.id)]
    assert receipts[0]["at"].endswith("Z")
    assert walk(api, "/api/v1/store/receipts", other) == []


def test_a_store_lists_the_coupons_redeemed_at_it(api):
    brand = api.brand()
    deposit(api, brand, 100_000)
    store, other = api.store(partner_of=brand), api.store(partner_of=brand)
    batch = api.batch(brand, quantity=2)
    scan_campaign(api, brand, [batch["product"]["id"]], budget_fen=10_000)
    codes = [scan(api, api.consumer(), c["token"]).json["rewards"][0]["code"] for c in api.codes(brand, batch)]
    for code in codes:
        api.post("/api/v1/store/redemptions", {"coupon_code": code}, who=store, expect=200)
    redeemed = walk(api, "/api/v1/store/redemptions", store)
    assert [c["code"] for c in redeemed] == codes[::-1]
    assert all(c["value_fen"] == 500 and c["redeemed_at"].endswith("Z") for c in redeemed)
    assert "consumer_id" not in redeemed[0]
    assert walk(api, "/api/v1/store/redemptions", other) == []


def test_a_consumer_lists_only_their_own_orders(api):
    brand = api.brand()
    store = api.store(partner_of=brand)
    product = api.product(brand)
    me, someone = api.consumer(), api.consumer()
    line = {"store_id": store.id, "items": [{"product_id": product["id"], "quantity": 1}]}
    mine = [api.post("/api/v1/orders", line, who=me, expect=201).json["id"] for _ in range(2)]
    api.post("/api/v1/orders", line, who=someone, expect=201)
    assert [o["id"] for o in walk(api, "/api/v1/orders", me)] == mine[::-1]
    assert [o["id"] for o in walk(api, "/api/v1/orders?status=pending_payment", me)] == mine[::-1]
    assert walk(api, "/api/v1/orders?status=paid", me) == []
    assert walk(api, "/api/v1/orders", api.consumer()) == []


# --- ids are opaque strings, times are UTC with a Z ----------------------------------------------


def test_products_batches_keys_and_the_rebate_policy_have_z_times_and_string_key_ids(api):
    brand = api.brand()
    product = api.product(brand)
    batch = api.batch(brand, product=product, quantity=1)
    rotated = api.post("/api/v1/brand/keys/rotate", who=brand, expect=201).json
    revoked = api.post(f"/api/v1/brand/keys/{batch['key_id']}/revoke", who=brand, expect=200).json
    policy = api.post("/api/v1/brand/rebate-policy", {"per_scan_fen": 5, "per_receipt_item_fen": 10}, who=brand).json
    key_row = walk(api, "/api/v1/brand/keys", brand)[-1]
    times = [
        product["created_at"],
        batch["created_at"],
        api.get(f"/api/v1/brand/batches/{batch['id']}", who=brand, expect=200).json["created_at"],
        rotated["created_at"],
        revoked["revoked_at"],
        key_row["created_at"],
        key_row["revoked_at"],
        policy["created_at"],
        api.get("/api/v1/brand/rebate-policy", who=brand, expect=200).json["created_at"],
    ]
    assert all(isinstance(t, str) and t.endswith("Z") for t in times), times
    assert all(isinstance(k, str) for k in (batch["key_id"], rotated["key_id"], revoked["key_id"], key_row["key_id"]))


def test_split_rule_and_diversion_alert_ids_are_strings(api):
    brand = api.brand()
    rule = {"store_percent": 10, "platform_percent": 5, "referrer_percent": 0, "referrer2_percent": 0}
    assert isinstance(api.post("/api/v1/brand/split-rules", rule, who=brand, expect=201).json["id"], str)
    assert isinstance(walk(api, "/api/v1/brand/split-rules", brand)[0]["id"], str)
    product = api.product(brand)
    items = api.codes(brand, api.batch(brand, product=product, quantity=1, region_codes=["310000"]))
    case = api.codes(brand, api.batch(brand, product=product, quantity=1, kind="case", region_codes=["310000"]))[0]
    children = [c["token"] for c in items]
    api.post("/api/v1/brand/aggregations", {"parent": case["token"], "children": children}, who=brand, expect=201)
    beijing = api.store(region_code="110101", lat=39.9, lng=116.4, partner_of=brand)
    api.post("/api/v1/store/receipts", {"code": case["token"]}, who=beijing, expect=200)
    alerts = walk(api, "/api/v1/brand/diversion-alerts", brand)
    assert len(alerts) == 1 and isinstance(alerts[0]["id"], str)


# --- unknown API paths and methods ---------------------------------------------------------------


def test_an_unknown_api_path_is_a_short_json_404(api):
    r = api.client.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.is_json
    assert r.json["error"]["code"] == "not_found"
    assert r.json["error"]["message"] == "No such endpoint."


def test_a_method_an_api_path_does_not_take_is_a_json_405_with_allow(api):
    r = api.client.delete("/api/v1/scans", headers=api.consumer().headers)
    assert r.status_code == 405 and r.is_json
    assert r.json["error"]["code"] == "method_not_allowed"
    assert "POST" in r.json["error"]["fields"]["method"][0]
    assert "POST" in r.headers["Allow"]
