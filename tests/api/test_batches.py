"""Issuing, exporting, activating and voiding batches through the brand API."""

from urllib.parse import quote

import pytest
from sqlalchemy import func, select

import db
from codes.models import Batch, Code, CodeRange


def test_issuing_ten_million_codes_writes_a_constant_number_of_rows(api, app):
    brand = api.brand()
    batch = api.batch(brand, quantity=10_000_000, activate=False)
    assert batch["quantity"] == 10_000_000
    assert batch["serial_to"] - batch["serial_from"] + 1 == 10_000_000
    assert batch["status"] == "issued" and batch["activated"] == 0
    with db.session_scope(app) as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == 1
        assert session.scalar(select(func.count()).select_from(Code)) == 0


def test_batches_take_disjoint_serial_ranges(api):
    brand = api.brand()
    a = api.batch(brand, quantity=100, activate=False)
    b = api.batch(brand, quantity=50, activate=False)
    assert a["serial_to"] < b["serial_from"] or b["serial_to"] < a["serial_from"]


def test_exported_csv_has_one_unique_verifying_row_per_code(api, client):
    brand = api.brand()
    batch = api.batch(brand, quantity=500)
    rows = api.codes(brand, batch)
    assert len(rows) == 500
    assert len({r["token"] for r in rows}) == 500
    assert [r["serial"] for r in rows] == list(range(batch["serial_from"], batch["serial_to"] + 1))
    for row in rows[::25]:
        assert row["url"] == f"https://qr.example.com/c/{row['token']}"
        assert len(row["token"]) <= 24
        assert client.get(f"/c/{row['token']}").status_code == 200


def test_export_of_a_serial_subrange(api):
    brand = api.brand()
    batch = api.batch(brand, quantity=100, activate=False)
    rows = api.codes(brand, batch, batch["serial_from"] + 10, batch["serial_from"] + 19)
    assert [r["serial"] for r in rows] == list(range(batch["serial_from"] + 10, batch["serial_from"] + 20))


def test_export_range_outside_the_batch_is_rejected_naming_the_field(api):
    brand = api.brand()
    batch = api.batch(brand, quantity=10, activate=False)
    r = api.get(f"/api/v1/brand/batches/{batch['id']}/codes.csv?to={batch['serial_to'] + 1}", who=brand, expect=422)
    assert "to" in r.json["error"]["fields"]


def test_gs1_batch_exports_digital_link_uris_that_verify(api, client):
    brand = api.brand()
    batch = api.batch(brand, quantity=5, format="gs1")
    rows = api.codes(brand, batch)
    for row in rows:
        assert row["url"].startswith(f"https://qr.example.com/01/09506000134352/10/L2026A/21/{row['serial']}?s=")
        path = row["url"].split("https://qr.example.com", 1)[1]
        assert client.get(path).status_code == 200


def test_gs1_format_needs_a_product_with_a_gtin(api):
    brand = api.brand()
    product = api.product(brand)
    r = api.post(
        "/api/v1/brand/batches",
        {"product_id": product["id"], "quantity": 5, "lot": "L1", "produced_on": "2026-11-01", "format": "gs1"},
        who=brand,
        expect=422,
    )
    assert "format" in r.json["error"]["fields"]


@pytest.mark.parametrize(
    "change,field",
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": 10_000_001}, "quantity"),
        ({"quantity": "12"}, "quantity"),
        ({"lot": "lot with spaces"}, "lot"),
        ({"lot": "X" * 21}, "lot"),
        ({"produced_on": "yesterday"}, "produced_on"),
        ({"kind": "pallet"}, "kind"),
        ({"format": "qr"}, "format"),
        ({"region_codes": ["31011"]}, "region_codes"),
        ({"expires_on": "2026-10-01"}, "expires_on"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_batch_requests_name_the_field_and_create_nothing(api, app, change, field):
    brand = api.brand()
    product = api.product(brand)
    body = {"product_id": product["id"], "quantity": 5, "lot": "L1", "produced_on": "2026-11-01"}
    body.update(change)
    r = api.post("/api/v1/brand/batches", body, who=brand)
    assert r.status_code in (400, 422)
    assert r.json["error"]["code"] == "validation_error"
    assert field in r.json["error"]["fields"]
    with db.session_scope(app) as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == 0


def test_malformed_json_is_a_400_with_the_error_shape(api, client):
    brand = api.brand()
    r = client.post(
        "/api/v1/brand/batches", data="{not json", headers={**brand.headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json["error"]["code"] == "bad_request"


def test_product_gtin_check_digit_is_verified(api):
    brand = api.brand()
    r = api.post(
        "/api/v1/brand/products",
        {"sku": "A", "name": "Milk", "price_fen": 100, "gtin": "9506000134353"},
        who=brand,
        expect=422,
    )
    assert "gtin" in r.json["error"]["fields"]
    ok = api.post(
        "/api/v1/brand/products",
        {"sku": "B", "name": "Milk", "price_fen": 100, "gtin": "9506000134352"},
        who=brand,
        expect=201,
    )
    assert ok.json["gtin"] == "09506000134352"


def test_duplicate_sku_is_a_conflict(api):
    brand = api.brand()
    api.product(brand, sku="DUP")
    r = api.post("/api/v1/brand/products", {"sku": "DUP", "name": "x", "price_fen": 1}, who=brand, expect=409)
    assert "sku" in r.json["error"]["fields"]


def test_codes_are_inactive_until_activated_and_ranges_activate_only_themselves(api, client):
    brand = api.brand()
    batch = api.batch(brand, quantity=20, activate=False)
    rows = api.codes(brand, batch)
    assert client.get(f"/c/{rows[0]['token']}").status_code == 410
    s0 = batch["serial_from"]
    r = api.post(f"/api/v1/brand/batches/{batch['id']}/activate", {"from": s0, "to": s0 + 9}, who=brand, expect=200)
    assert r.json == {"activated": 10, "batch_activated": 10}
    assert client.get(f"/c/{rows[9]['token']}").status_code == 200
    assert client.get(f"/c/{rows[10]['token']}").status_code == 410
    summary = api.get(f"/api/v1/brand/batches/{batch['id']}", who=brand, expect=200).json
    assert summary["status"] == "partially_active" and summary["activated"] == 10


def test_voiding_a_range_makes_those_codes_gone_and_counts_them(api, client):
    brand = api.brand()
    batch = api.batch(brand, quantity=20)
    rows = api.codes(brand, batch)
    s0 = batch["serial_from"]
    r = api.post(
        f"/api/v1/brand/batches/{batch['id']}/void",
        {"from": s0 + 5, "to": s0 + 7, "reason": "damaged"},
        who=brand,
        expect=200,
    )
    assert r.json["voided"] == 3
    page = client.get(f"/c/{rows[6]['token']}")
    assert page.status_code == 410 and b'data-verdict="voided"' in page.data
    assert client.get(f"/c/{rows[8]['token']}").status_code == 200
    summary = api.get(f"/api/v1/brand/batches/{batch['id']}", who=brand).json
    assert (summary["activated"], summary["voided"]) == (17, 3)


def test_activating_after_a_void_does_not_revive_voided_codes(api, client):
    brand = api.brand()
    batch = api.batch(brand, quantity=5, activate=False)
    rows = api.codes(brand, batch)
    api.post(
        f"/api/v1/brand/batches/{batch['id']}/void",
        {"from": batch["serial_from"], "to": batch["serial_from"], "reason": "recall"},
        who=brand,
        expect=200,
    )
    api.post(f"/api/v1/brand/batches/{batch['id']}/activate", {}, who=brand, expect=200)
    assert client.get(f"/c/{rows[0]['token']}").status_code == 410


def test_void_range_outside_the_batch_names_the_field(api):
    brand = api.brand()
    batch = api.batch(brand, quantity=5)
    r = api.post(
        f"/api/v1/brand/batches/{batch['id']}/void",
        {"from": batch["serial_from"], "to": batch["serial_to"] + 5, "reason": "x"},
        who=brand,
        expect=422,
    )
    assert "to" in r.json["error"]["fields"]


def test_batch_list_pages_with_a_cursor(api):
    brand = api.brand()
    made = {api.batch(brand, quantity=1, activate=False)["id"] for _ in range(5)}
    first = api.get("/api/v1/brand/batches?limit=2", who=brand, expect=200).json
    assert len(first["items"]) == 2 and first["next_cursor"]
    seen = [b["id"] for b in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = api.get(f"/api/v1/brand/batches?limit=2&cursor={cursor}", who=brand, expect=200).json
        seen += [b["id"] for b in page["items"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(made)
    assert api.get("/api/v1/brand/batches?cursor=garbage!", who=brand).status_code == 422


def test_range_rows_are_few_whatever_the_range(api, app):
    brand = api.brand()
    batch = api.batch(brand, quantity=1_000_000)
    api.post(
        f"/api/v1/brand/batches/{batch['id']}/void",
        {"from": batch["serial_from"], "to": batch["serial_from"] + 499_999, "reason": "recall"},
        who=brand,
        expect=200,
    )
    with db.session_scope(app) as session:
        assert session.scalar(select(func.count()).select_from(CodeRange)) == 2
        assert session.scalar(select(func.count()).select_from(Code)) == 0


def test_gs1_rows_token_column_is_what_trace_and_qr_take(api):
    brand = api.brand()
    batch = api.batch(brand, quantity=3, format="gs1")
    for row in api.codes(brand, batch):
        assert row["token"] == row["url"]
        quoted = quote(row["token"], safe="")
        trace = api.get(f"/api/v1/brand/codes/{quoted}/trace", who=brand, expect=200).json
        assert trace["serial"] == int(row["serial"]) and trace["batch_id"] == batch["id"]
        api.get(f"/api/v1/brand/codes/{quoted}/qr.svg", who=brand, expect=200)
