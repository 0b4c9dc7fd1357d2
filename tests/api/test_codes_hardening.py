"""Codes hardening through the API: one canonical ASCII form, our hosts only, a trace that survives a
key revocation, and GTINs that belong to one brand."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from bench.support import all_at_once
from tests.factories import scan

GTIN = "9506000134352"  # GTIN-13; stored as GTIN-14 09506000134352
GTIN14 = "0" + GTIN
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def gs1_code(api, brand=None):
    """An activated GS1 batch's first code: (brand, its URL's parts, the URL)."""
    brand = brand or api.brand()
    batch = api.batch(brand, quantity=2, format="gs1")
    url = api.codes(brand, batch)[0]["url"]
    head, sig = url.split("?s=")
    serial = head.rsplit("/21/", 1)[1]
    return brand, {"head": head, "serial": serial, "sig": sig}, url


def scan_count(api, brand, url) -> int:
    """The genuine code's scan count as its brand sees it (the trace's scanned events)."""
    trace = api.get(f"/api/v1/brand/codes/{quote(url, safe='')}/trace", who=brand, expect=200).json
    return sum(1 for e in trace["events"] if e["type"] == "scanned")


# --- 1. one canonical ASCII form --------------------------------------------------------------------


def _variants(parts):
    head, serial, sig = parts["head"], parts["serial"], parts["sig"]
    base = head.rsplit("/21/", 1)[0]
    return {
        "full_width_serial": f"{base}/21/{serial.translate(FULL_WIDTH)}?s={sig}",
        "arabic_indic_serial": f"{base}/21/{serial.translate(ARABIC_INDIC)}?s={sig}",
        "leading_arabic_zero": f"{base}/21/٠{serial}?s={sig}",
        "leading_ascii_zero": f"{base}/21/0{serial}?s={sig}",
        "full_width_gtin": f"{head.replace(GTIN14, GTIN14.translate(FULL_WIDTH))}?s={sig}",
        "arabic_indic_gtin": f"{head.replace(GTIN14, '٠' + GTIN14[1:])}?s={sig}",
        "percent_encoded_serial": f"{base}/21/%3{serial[0]}{serial[1:]}?s={sig}",
    }


@pytest.mark.parametrize(
    "variant",
    [
        "full_width_serial",
        "arabic_indic_serial",
        "leading_arabic_zero",
        "leading_ascii_zero",
        "full_width_gtin",
        "arabic_indic_gtin",
        "percent_encoded_serial",
    ],
)
def test_a_gs1_code_written_with_other_digits_scans_as_forged_and_the_genuine_count_stays(api, variant):
    brand, parts, url = gs1_code(api)
    consumer = api.consumer()
    assert scan(api, consumer, url).json["verdict"] == "genuine"
    lookalike = _variants(parts)[variant]
    body = scan(api, consumer, lookalike).json
    assert body["verdict"] == "forged" and body["scan_count"] == 0 and body["rewards"] == []
    again = scan(api, consumer, url).json
    assert again["verdict"] == "genuine_repeat" and again["scan_count"] == 2
    assert scan_count(api, brand, url) == 2


@pytest.mark.parametrize(
    "variant", ["full_width_serial", "arabic_indic_serial", "leading_arabic_zero", "full_width_gtin"]
)
def test_the_landing_page_answers_404_for_a_gs1_path_with_other_digits(api, client, variant):
    _, parts, url = gs1_code(api)
    genuine_path = url.split("://", 1)[1].split("/", 1)[1]
    assert client.get("/" + genuine_path).status_code == 200
    lookalike = _variants(parts)[variant].split("://", 1)[1].split("/", 1)[1]
    path, query = lookalike.split("?", 1)
    page = client.get("/" + quote(path), query_string=query)
    assert page.status_code == 404
    assert "无效的码" in page.get_data(as_text=True)  # the page speaks Chinese unless asked for English


def test_the_landing_page_of_a_short_code_with_a_full_width_character_is_404(api, client):
    brand = api.brand()
    token = api.codes(brand, api.batch(brand, quantity=1))[0]["token"]
    assert client.get(f"/c/{token}").status_code == 200
    lookalike = chr(ord(token[0]) + 0xFEE0) + token[1:]  # its first character in full width
    assert client.get("/c/" + quote(lookalike)).status_code == 404


@pytest.mark.parametrize("gtin", [GTIN.translate(FULL_WIDTH), GTIN.translate(ARABIC_INDIC), "٠" + GTIN])
def test_a_product_gtin_written_with_other_digits_is_refused_naming_the_field(api, gtin):
    brand = api.brand()
    r = api.post("/api/v1/brand/products", {"sku": "M1", "name": "Milk", "price_fen": 100, "gtin": gtin}, who=brand)
    assert r.status_code == 422 and "gtin" in r.json["error"]["fields"]
    assert api.get("/api/v1/brand/products", who=brand, expect=200).json["items"] == []


def test_a_key_id_written_in_other_digits_revokes_nothing(api, client):
    brand = api.brand()
    token = api.codes(brand, api.batch(brand, quantity=1))[0]["token"]
    key_id = api.get("/api/v1/brand/keys", who=brand, expect=200).json["items"][0]["key_id"]
    for spelled in (str(key_id).translate(ARABIC_INDIC), str(key_id).translate(FULL_WIDTH)):
        r = client.post(f"/api/v1/brand/keys/{quote(spelled)}/revoke", headers=brand.headers)
        assert r.status_code == 404
    assert api.get("/api/v1/brand/keys", who=brand, expect=200).json["items"][0]["revoked_at"] is None
    assert scan(api, api.consumer(), token).json["verdict"] == "genuine"


# --- 2. our hosts only --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "http://evil.example",
        "https://qr.example.com.evil.example",
        "https://qr.example.com@evil.example",
        "https://id.gs1.org",  # GS1's resolver serves GS1 paths, not our short ones
    ],
)
def test_a_short_code_url_on_a_foreign_host_scans_as_forged_and_the_genuine_count_stays(api, host):
    brand = api.brand()
    code = api.codes(brand, api.batch(brand, quantity=1))[0]
    consumer = api.consumer()
    body = scan(api, consumer, f"{host}/c/{code['token']}").json
    assert body["verdict"] == "forged" and body["scan_count"] == 0 and body["rewards"] == []
    assert scan(api, consumer, code["token"]).json["verdict"] == "genuine"


def test_a_gs1_code_url_on_a_foreign_host_scans_as_forged(api):
    _, _, url = gs1_code(api)
    lookalike = url.replace("https://qr.example.com", "https://evil.example")
    assert scan(api, api.consumer(), lookalike).json["verdict"] == "forged"
    assert scan(api, api.consumer(), url).json["verdict"] == "genuine"


def test_bare_tokens_our_urls_and_gs1_uris_on_the_gs1_resolver_are_genuine(api):
    brand = api.brand()
    first, second, third = api.codes(brand, api.batch(brand, quantity=3))
    consumer = api.consumer()
    assert scan(api, consumer, first["token"]).json["verdict"] == "genuine"
    assert scan(api, consumer, second["url"]).json["verdict"] == "genuine"
    assert scan(api, consumer, third["url"].replace("https://", "http://")).json["verdict"] == "genuine"
    _, _, url = gs1_code(api)
    resolver = url.replace("https://qr.example.com", "https://id.gs1.org")
    assert scan(api, consumer, resolver).json["verdict"] == "genuine"


def test_a_store_cannot_receive_a_case_by_a_url_on_a_foreign_host(api):
    brand = api.brand()
    store = api.store(partner_of=brand)
    case = api.codes(brand, api.batch(brand, quantity=1, kind="case"))[0]
    r = api.post("/api/v1/store/receipts", {"code": f"https://evil.example/c/{case['token']}"}, who=store)
    assert r.status_code == 422 and "code" in r.json["error"]["fields"]
    api.post("/api/v1/store/receipts", {"code": case["url"]}, who=store, expect=200)


# --- 3. the trace survives a key revocation ---------------------------------------------------------------


def _packed_and_received(api):
    brand = api.brand()
    store = api.store(partner_of=brand)
    product = api.product(brand)
    items = api.codes(brand, api.batch(brand, product=product, quantity=2))
    case = api.codes(brand, api.batch(brand, product=product, quantity=1, kind="case"))[0]
    api.post(
        "/api/v1/brand/aggregations",
        {"parent": case["token"], "children": [c["token"] for c in items]},
        who=brand,
        expect=201,
    )
    api.post("/api/v1/store/receipts", {"code": case["token"]}, who=store, expect=200)
    return brand, store, items, case


def test_trace_after_the_key_is_revoked_keeps_batch_case_store_receipt_and_scans(api):
    brand, store, items, case = _packed_and_received(api)
    scan(api, api.consumer(), items[0]["url"])
    key_id = api.get("/api/v1/brand/keys", who=brand, expect=200).json["items"][0]["key_id"]
    api.post(f"/api/v1/brand/keys/{key_id}/revoke", {}, who=brand, expect=200)
    assert scan(api, api.consumer(), items[0]["url"]).json["verdict"] == "revoked_key"

    trace = api.get(f"/api/v1/brand/codes/{items[0]['token']}/trace", who=brand, expect=200).json
    assert trace["verdict"] == "revoked_key"
    assert trace["case_serial"] == case["serial"]
    types = [e["type"] for e in trace["events"]]
    assert types[0] == "issued" and "activated" in types and "packed" in types
    received = [e for e in trace["events"] if e["type"] == "received"]
    assert len(received) == 1 and received[0]["detail"]["store_id"] == store.id
    assert received[0]["detail"]["via_case"] is True and received[0]["detail"]["case_serial"] == case["serial"]
    scans = [e["detail"]["verdict"] for e in trace["events"] if e["type"] == "scanned"]
    assert scans == ["genuine", "revoked_key"]


def test_a_case_trace_after_the_key_is_revoked_keeps_its_receipt(api):
    brand, store, _, case = _packed_and_received(api)
    key_id = api.get("/api/v1/brand/keys", who=brand, expect=200).json["items"][0]["key_id"]
    api.post(f"/api/v1/brand/keys/{key_id}/revoke", {}, who=brand, expect=200)
    trace = api.get(f"/api/v1/brand/codes/{case['token']}/trace", who=brand, expect=200).json
    assert [e["detail"]["store_id"] for e in trace["events"] if e["type"] == "received"] == [store.id]


def test_an_item_unpacked_before_its_case_was_received_does_not_show_that_receipt(api):
    brand = api.brand()
    store = api.store(partner_of=brand)
    product = api.product(brand)
    items = api.codes(brand, api.batch(brand, product=product, quantity=2))
    case = api.codes(brand, api.batch(brand, product=product, quantity=1, kind="case"))[0]
    children = [c["token"] for c in items]
    api.post("/api/v1/brand/aggregations", {"parent": case["token"], "children": children}, who=brand, expect=201)
    api.post(
        "/api/v1/brand/aggregations",
        {"parent": case["token"], "children": children[:1], "action": "unpack"},
        who=brand,
        expect=201,
    )
    api.post("/api/v1/store/receipts", {"code": case["token"]}, who=store, expect=200)
    left = api.get(f"/api/v1/brand/codes/{items[0]['token']}/trace", who=brand, expect=200).json
    stayed = api.get(f"/api/v1/brand/codes/{items[1]['token']}/trace", who=brand, expect=200).json
    assert [e["type"] for e in left["events"]].count("received") == 0
    assert [e["type"] for e in left["events"]][-2:] == ["packed", "unpacked"]
    assert [e["type"] for e in stayed["events"]].count("received") == 1


# --- 4. a GTIN belongs to one brand -------------------------------------------------------------------


def product(api, brand, gtin=GTIN, expect=None, sku=None):
    body = {"sku": sku or f"SKU-{gtin}-{brand.id}", "name": "Milk", "price_fen": 1200, "gtin": gtin}
    return api.post("/api/v1/brand/products", body, who=brand, expect=expect)


def prefix(api, brand_id, value, who=None, expect=None):
    who = api.admin if who is None else who
    return api.post(f"/api/v1/admin/brands/{brand_id}/gs1-prefixes", {"prefix": value}, who=who, expect=expect)


def test_a_gtin_another_brand_registered_is_taken(api):
    first, second = api.brand(), api.brand()
    product(api, first, expect=201)
    r = product(api, second)
    assert r.status_code == 409 and r.json["error"]["code"] == "gtin_taken" and "gtin" in r.json["error"]["fields"]
    assert api.get("/api/v1/brand/products", who=second, expect=200).json["items"] == []
    # the same GTIN as GTIN-14 is the same GTIN
    assert product(api, second, gtin=GTIN14).json["error"]["code"] == "gtin_taken"


def test_a_brand_may_register_its_own_gtin_on_another_product(api):
    brand = api.brand()
    first = product(api, brand, sku="A")
    second = product(api, brand, gtin=GTIN14, sku="B")  # the same GTIN written as GTIN-14
    assert [first.status_code, second.status_code] == [201, 201]
    listed = api.get("/api/v1/brand/products", who=brand, expect=200).json["items"]
    assert sorted(p["sku"] for p in listed) == ["A", "B"]
    assert {p["gtin"] for p in listed} == {GTIN14}


def test_a_brand_refused_a_gtin_cannot_mint_gs1_codes_for_it(api):
    owner, squatter = api.brand(), api.brand()
    product(api, owner, expect=201)
    assert product(api, squatter).status_code == 409
    mine = product(api, squatter, gtin="96385074", expect=201).json  # its own GTIN still works
    api.post(
        "/api/v1/brand/batches",
        {"product_id": mine["id"], "quantity": 1, "lot": "L1", "produced_on": "2026-11-01", "format": "gs1"},
        who=squatter,
        expect=201,
    )


def test_a_product_registered_before_ownership_was_kept_cannot_carry_gs1_codes(api, app):
    import db
    from codes.models import Product

    owner, squatter = api.brand(), api.brand()
    product(api, owner, expect=201)
    with db.session_scope(app) as session:  # as the migration leaves another brand's earlier product
        session.add(Product(id="pr_legacy", brand_id=squatter.id, sku="OLD", name="Milk", price_fen=1, gtin=GTIN14))
        session.commit()
    body = {"product_id": "pr_legacy", "quantity": 1, "lot": "L1", "produced_on": "2026-11-01", "format": "gs1"}
    r = api.post("/api/v1/brand/batches", body, who=squatter)
    assert r.status_code == 409 and r.json["error"]["code"] == "gtin_taken"


def test_after_a_prefix_is_assigned_only_its_brand_registers_gtins_under_it(api):
    holder, other = api.brand(), api.brand()
    got = prefix(api, holder.id, "950600", expect=201).json
    assert got["prefix"] == "950600" and got["brand_id"] == holder.id
    r = product(api, other)
    assert r.status_code == 409 and r.json["error"]["code"] == "gtin_taken"
    product(api, holder, expect=201)
    product(api, other, gtin="96385074", expect=201)  # outside the prefix


def test_a_prefix_assigned_to_another_brand_is_409_and_to_the_same_brand_again_is_no_change(api):
    first, second = api.brand(), api.brand()
    prefix(api, first.id, "6901234", expect=201)
    prefix(api, first.id, "6901234", expect=201)
    r = prefix(api, second.id, "6901234")
    assert r.status_code == 409 and "prefix" in r.json["error"]["fields"]


@pytest.mark.parametrize("held,asked", [("690123", "69012345"), ("69012345", "690123")])
def test_overlapping_prefixes_of_different_brands_are_409(api, held, asked):
    first, second = api.brand(), api.brand()
    prefix(api, first.id, held, expect=201)
    r = prefix(api, second.id, asked)
    assert r.status_code == 409 and "prefix" in r.json["error"]["fields"]
    prefix(api, first.id, asked, expect=201)  # the same brand may narrow or widen its own


def test_a_prefix_over_gtins_another_brand_holds_is_409(api):
    squatter, owner = api.brand(), api.brand()
    product(api, squatter, expect=201)
    r = prefix(api, owner.id, "950600")
    assert r.status_code == 409 and GTIN14 in r.json["error"]["fields"]["prefix"][0]
    prefix(api, squatter.id, "950600", expect=201)


def test_only_the_admin_assigns_prefixes(api, client):
    brand = api.brand()
    assert prefix(api, brand.id, "950600", who=brand).status_code == 403
    assert client.post(f"/api/v1/admin/brands/{brand.id}/gs1-prefixes", json={"prefix": "950600"}).status_code == 401
    assert prefix(api, "br_nobody", "950600").status_code == 404


@pytest.mark.parametrize("value", ["12345", "1234567890123", "95060a", "９５０６００", "٩٥٠٦٠٠", "950600\n", 950600])
def test_a_prefix_not_of_6_to_12_ascii_digits_is_refused_naming_the_field(api, value):
    brand = api.brand()
    r = prefix(api, brand.id, value)
    assert r.status_code == 422 and "prefix" in r.json["error"]["fields"]


@pytest.mark.postgres
def test_brands_racing_for_one_gtin_leave_exactly_one_owner(api, app, postgres_only):
    brands = [api.brand() for _ in range(8)]

    def register(i, client):
        body = {"sku": "RACE", "name": "Milk", "price_fen": 100, "gtin": GTIN}
        r = client.post("/api/v1/brand/products", json=body, headers=brands[i].headers)
        return r.status_code, r.json

    results = all_at_once(len(brands), lambda i: app.test_client(), register)
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (len(brands) - 1), results
    assert all(body["error"]["code"] == "gtin_taken" for status, body in results if status == 409)
    owners = [b for b in brands if api.get("/api/v1/brand/products", who=b, expect=200).json["items"]]
    assert len(owners) == 1


@pytest.mark.postgres
def test_a_prefix_and_a_gtin_under_it_racing_for_two_brands_never_both_win(api, app, postgres_only):
    from codes.tokens import gtin_check_digit

    for round_ in range(5):
        holder, registrant = api.brand(), api.brand()
        company = f"9{round_}1234"
        body = company + "000001"
        gtin = body + str(gtin_check_digit(body))

        def send(i, client, company=company, gtin=gtin, holder=holder, registrant=registrant):
            if i == 0:
                path = f"/api/v1/admin/brands/{holder.id}/gs1-prefixes"
                return client.post(path, json={"prefix": company}, headers=api.admin).status_code
            product = {"sku": "RACE", "name": "Milk", "price_fen": 100, "gtin": gtin}
            return client.post("/api/v1/brand/products", json=product, headers=registrant.headers).status_code

        prefix_status, product_status = all_at_once(2, lambda i: app.test_client(), send)
        assert sorted([prefix_status, product_status]) == [201, 409], (round_, prefix_status, product_status)
