"""Keys, aggregation, trace, landing page and ownership through the API."""

import pytest

from codes import tokens


def test_rotation_signs_new_batches_with_the_new_key_and_old_codes_keep_verifying(api, client):
    brand = api.brand()
    old = api.batch(brand, quantity=3)
    new_key = api.post("/api/v1/brand/keys/rotate", who=brand, expect=201).json["key_id"]
    new = api.batch(brand, quantity=3)
    assert new["key_id"] == new_key != old["key_id"]
    for batch in (old, new):
        token = api.codes(brand, batch)[0]["token"]
        assert client.get(f"/c/{token}").status_code == 200
    keys = api.get("/api/v1/brand/keys", who=brand, expect=200).json["items"]
    assert [k["key_id"] for k in keys] == [new_key, old["key_id"]]  # newest first
    assert all("secret" not in k and "ciphertext" not in k for k in keys)


def test_revoked_key_codes_scan_as_revoked_and_new_batches_get_a_fresh_key(api, client):
    brand = api.brand()
    batch = api.batch(brand, quantity=2)
    token = api.codes(brand, batch)[0]["token"]
    api.post(f"/api/v1/brand/keys/{batch['key_id']}/revoke", who=brand, expect=200)
    page = client.get(f"/c/{token}")
    assert page.status_code == 410 and b'data-verdict="revoked_key"' in page.data
    assert api.post(f"/api/v1/brand/keys/{batch['key_id']}/revoke", who=brand).status_code == 409
    fresh = api.batch(brand, quantity=1)
    assert fresh["key_id"] != batch["key_id"]


def test_a_brand_cannot_revoke_another_brands_key(api):
    a, b = api.brand(), api.brand()
    batch = api.batch(a, quantity=1)
    assert api.post(f"/api/v1/brand/keys/{batch['key_id']}/revoke", who=b).status_code == 404


def test_landing_page_status_codes_follow_a_gs1_resolver(api, client):
    brand = api.brand()
    batch = api.batch(brand, quantity=3)
    token = api.codes(brand, batch)[0]["token"]
    live = client.get(f"/c/{token}")
    assert live.status_code == 200 and b'data-verdict="genuine"' in live.data
    assert b"Fresh milk 1L" in live.data and b"width=device-width" in live.data
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(f"/c/{forged}").status_code == 404
    assert client.get("/c/not-a-token").status_code == 404
    assert client.get("/01/09506000134352/10/L1/21/5?s=AAAAAAAAAAAAAAAA").status_code == 404


def test_a_validly_signed_code_with_no_batch_is_unknown(api, app, client):
    brand = api.brand()
    batch = api.batch(brand, quantity=1)
    import db
    from codes import keys

    with app.app_context(), db.session_scope(app) as session:
        _, secret = keys.secret_for(session, int(batch["key_id"]))  # an opaque string in the API
    beyond = tokens.short_token(secret, int(batch["key_id"]), batch["serial_to"] + 1000)
    page = client.get(f"/c/{beyond}")
    assert page.status_code == 404 and b'data-verdict="unknown"' in page.data


def test_landing_page_claims_nothing(api, client):
    brand = api.brand()
    batch = api.batch(brand, quantity=1)
    token = api.codes(brand, batch)[0]["token"]
    for _ in range(3):
        assert b'data-verdict="genuine"' in client.get(f"/c/{token}").data


def _case_and_items(api, brand, items=6):
    case_batch = api.batch(brand, quantity=2, kind="case", activate=False)
    item_batch = api.batch(brand, quantity=items, activate=False)
    return api.codes(brand, case_batch), api.codes(brand, item_batch)


def test_packing_items_into_a_case_and_an_item_in_one_case_at_a_time(api):
    brand = api.brand()
    cases, items = _case_and_items(api, brand)
    r = api.post(
        "/api/v1/brand/aggregations",
        {"parent": cases[0]["url"], "children": [i["token"] for i in items[:4]]},
        who=brand,
        expect=201,
    )
    assert r.json["case_contents"] == 4
    # packing the same items again into the same case is harmless
    api.post(
        "/api/v1/brand/aggregations",
        {"parent": cases[0]["token"], "children": [items[0]["token"]]},
        who=brand,
        expect=201,
    )
    # but not into another case
    clash = api.post(
        "/api/v1/brand/aggregations",
        {"parent": cases[1]["token"], "children": [items[3]["token"], items[4]["token"]]},
        who=brand,
    )
    assert clash.status_code == 409
    assert "children" in clash.json["error"]["fields"]
    # and the failed request packed nothing: item 4 is still free
    ok = api.post(
        "/api/v1/brand/aggregations",
        {"parent": cases[1]["token"], "children": [items[4]["token"]]},
        who=brand,
        expect=201,
    )
    assert ok.json["case_contents"] == 1


def test_unpack_and_repack_move_items_between_cases(api):
    brand = api.brand()
    cases, items = _case_and_items(api, brand)
    children = [i["token"] for i in items[:3]]
    api.post("/api/v1/brand/aggregations", {"parent": cases[0]["token"], "children": children}, who=brand, expect=201)
    moved = api.post(
        "/api/v1/brand/aggregations",
        {"parent": cases[1]["token"], "children": children[:1], "action": "repack"},
        who=brand,
        expect=201,
    )
    assert moved.json["case_contents"] == 1
    out = api.post(
        "/api/v1/brand/aggregations",
        {"parent": cases[0]["token"], "children": children[1:], "action": "unpack"},
        who=brand,
        expect=201,
    )
    assert out.json["case_contents"] == 0
    assert (
        api.post(
            "/api/v1/brand/aggregations",
            {"parent": cases[0]["token"], "children": children[1:], "action": "unpack"},
            who=brand,
        ).status_code
        == 409
    )


@pytest.mark.parametrize("problem", ["parent_is_item", "child_is_case", "child_listed_twice", "child_forged"])
def test_aggregation_rules_reject_bad_codes(api, problem):
    brand = api.brand()
    cases, items = _case_and_items(api, brand)
    parent, children = cases[0]["token"], [items[0]["token"]]
    if problem == "parent_is_item":
        parent = items[1]["token"]
    elif problem == "child_is_case":
        children = [cases[1]["token"]]
    elif problem == "child_listed_twice":
        children = [items[0]["token"], items[0]["url"]]
    else:
        children = ["A" * 24]
    r = api.post("/api/v1/brand/aggregations", {"parent": parent, "children": children}, who=brand, expect=422)
    assert set(r.json["error"]["fields"]) & {"parent", "children"}


def test_trace_shows_issue_activation_packing_and_void_in_order(api):
    brand = api.brand()
    cases, items = _case_and_items(api, brand)
    item = items[0]
    api.post(
        "/api/v1/brand/aggregations", {"parent": cases[0]["token"], "children": [item["token"]]}, who=brand, expect=201
    )
    batch_id = api.get(f"/api/v1/brand/codes/{item['token']}/trace", who=brand, expect=200).json["batch_id"]
    api.post(f"/api/v1/brand/batches/{batch_id}/activate", {}, who=brand, expect=200)
    api.post(
        f"/api/v1/brand/batches/{batch_id}/void",
        {"from": item["serial"], "to": item["serial"], "reason": "recall"},
        who=brand,
        expect=200,
    )
    trace = api.get(f"/api/v1/brand/codes/{item['token']}/trace", who=brand, expect=200).json
    assert [e["type"] for e in trace["events"]] == ["issued", "packed", "activated", "voided"]
    assert trace["serial"] == item["serial"] and trace["case_serial"] == cases[0]["serial"]
    assert trace["events"][-1]["detail"]["reason"] == "recall"


def test_single_qr_label_as_png_and_svg(api, client):
    brand = api.brand()
    batch = api.batch(brand, quantity=1)
    token = api.codes(brand, batch)[0]["token"]
    png = api.get(f"/api/v1/brand/codes/{token}/qr.png", who=brand, expect=200)
    assert png.mimetype == "image/png" and png.data.startswith(b"\x89PNG")
    svg = api.get(f"/api/v1/brand/codes/{token}/qr.svg", who=brand, expect=200)
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data


def test_label_zip_is_capped_at_ten_thousand_per_request(api):
    brand = api.brand()
    batch = api.batch(brand, quantity=10_001, activate=False)
    r = api.get(f"/api/v1/brand/batches/{batch['id']}/labels.zip", who=brand, expect=422)
    assert "to" in r.json["error"]["fields"]


# --- ownership and authentication -----------------------------------------------------------


def test_every_brand_endpoint_refuses_another_brands_batch(api):
    owner, other = api.brand(), api.brand()
    batch = api.batch(owner, quantity=3, kind="case")
    token = api.codes(owner, batch)[0]["token"]
    bid = batch["id"]
    calls = [
        ("get", f"/api/v1/brand/batches/{bid}", None),
        ("get", f"/api/v1/brand/batches/{bid}/codes.csv", None),
        ("get", f"/api/v1/brand/batches/{bid}/labels.zip", None),
        ("post", f"/api/v1/brand/batches/{bid}/activate", {}),
        (
            "post",
            f"/api/v1/brand/batches/{bid}/void",
            {"from": batch["serial_from"], "to": batch["serial_from"], "reason": "x"},
        ),
        ("get", f"/api/v1/brand/codes/{token}/qr.png", None),
        ("get", f"/api/v1/brand/codes/{token}/trace", None),
        ("post", "/api/v1/brand/aggregations", {"parent": token, "children": [token]}),
        (
            "post",
            "/api/v1/brand/batches",
            {"product_id": batch["product"]["id"], "quantity": 1, "lot": "L", "produced_on": "2026-01-01"},
        ),
    ]
    for method, path, body in calls:
        r = api.get(path, who=other) if method == "get" else api.post(path, body, who=other)
        assert r.status_code == 403, (path, r.status_code, r.get_data(as_text=True)[:200])
        assert r.json["error"]["code"] == "forbidden"
    assert api.get(f"/api/v1/brand/batches/{bid}", who=owner).json["activated"] == 3


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer bk_forged"},
        {"Authorization": "Bearer ct_forged"},
    ],
)
def test_brand_endpoints_need_a_valid_key(client, headers):
    r = client.post("/api/v1/brand/products", json={"sku": "x", "name": "x", "price_fen": 1}, headers=headers)
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"


def test_store_and_consumer_credentials_cannot_use_brand_or_admin_endpoints(api):
    brand = api.brand()
    store = api.store()
    consumer = api.consumer()
    for who in (store, consumer):
        assert api.post("/api/v1/brand/products", {"sku": "x", "name": "x", "price_fen": 1}, who=who).status_code == 403
        assert api.post("/api/v1/admin/brands", {"name": "x"}, who=who).status_code == 403
    assert api.post("/api/v1/admin/brands", {"name": "x"}, who=brand).status_code == 403


def test_store_onboarding_validates_region_and_coordinates(api):
    r = api.post(
        "/api/v1/admin/stores", {"name": "S", "lat": 95, "lng": 0, "region_code": "31"}, who=api.admin, expect=422
    )
    assert {"lat", "region_code"} <= set(r.json["error"]["fields"])


def test_partner_of_unknown_store_is_404(api):
    brand = api.brand()
    r = api.post("/api/v1/brand/partners", {"store_id": "st_nope"}, who=brand, expect=404)
    assert "store_id" in r.json["error"]["fields"]
