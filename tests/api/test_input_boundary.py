"""The input boundary: whatever a client sends, the answer is a JSON error naming what was wrong, and
nothing in the database changes; never a 500. Bodies are capped in size and nesting before anything
parses them, every string refuses control characters, times stay in range, cursors are signed."""

import base64
import json

import pytest
from sqlalchemy import func, select

import db
import pagination
from tests.factories import deposit, scan_campaign

DEEP = 100_000
NUL = "\x00"


def _table_counts(app) -> dict:
    with db.session_scope(app) as session:
        return {t.name: session.scalar(select(func.count()).select_from(t)) for t in db.Base.metadata.sorted_tables}


@pytest.fixture
def unchanged(app):
    """Asserts, at the end of the test, that every table holds as many rows as when it was first used."""
    before = {}

    def snapshot():
        before.update(_table_counts(app))

    yield snapshot
    assert before, "call unchanged() once the test's setup is done"
    assert _table_counts(app) == before


def _named(r, status: int) -> set[str]:
    """The fields a JSON error answer with `status` names; empty for any other answer."""
    if r.status_code != status or not r.is_json or "error" not in r.json:
        return set()
    return set(r.json["error"]["fields"])


# --- body size and nesting -------------------------------------------------------------------------


@pytest.mark.parametrize("opener, closer", [("[", "]"), ('{"a":', "}")])
def test_a_body_nested_100000_deep_is_refused_before_the_scan_reads_it_or_checks_credentials(
    client, unchanged, opener, closer
):
    unchanged()
    body = opener * DEEP + "1" + closer * DEEP
    r = client.post("/api/v1/scans", data=body, content_type="application/json")  # no credentials at all
    r = r
    assert "body" in _named(r, 400)
    error = r.json["error"]
    assert "deep" in error["message"]


def test_a_body_nested_100000_deep_to_the_consumer_login_is_refused(client, unchanged):
    unchanged()
    r = client.post("/api/v1/auth/consumer", data="[" * DEEP + "]" * DEEP, content_type="application/json")
    assert "body" in _named(r, 400)


def test_a_deep_body_is_refused_whatever_content_type_it_claims(client, unchanged):
    unchanged()
    r = client.post("/api/v1/payments/notify", data="[" * DEEP, content_type="text/plain")
    assert "body" in _named(r, 400)


def test_brackets_inside_strings_do_not_count_as_nesting(api, app):
    consumer = api.consumer()
    r = api.post("/api/v1/scans", {"code": "[" * 2000}, who=consumer)
    assert r.status_code == 200 and r.json["verdict"] in ("unknown", "forged")


def test_a_body_nested_within_the_limit_reaches_the_schema(api, app):
    brand = api.brand()
    depth = app.config["MAX_JSON_DEPTH"]
    nested = json.loads("[" * (depth - 1) + "]" * (depth - 1))
    r = api.post("/api/v1/brand/products", {"sku": "S1", "name": nested, "price_fen": 1}, who=brand)
    assert "name" in _named(r, 422)


def test_a_body_over_the_size_limit_is_413_naming_the_body(api, app, unchanged):
    brand = api.brand()
    unchanged()
    big = {"sku": "S1", "name": "x" * app.config["MAX_BODY_BYTES"], "price_fen": 1}
    r = api.post("/api/v1/brand/products", big, who=brand)
    r = r
    assert "body" in _named(r, 413)
    error = r.json["error"]
    assert error["code"] == "too_large"


def test_a_chunked_body_over_the_size_limit_is_413_naming_the_body(client, app, unchanged):
    unchanged()
    import io

    body = b"[" + b" " * app.config["MAX_BODY_BYTES"] + b"]"
    r = client.post(
        "/api/v1/scans",
        input_stream=io.BytesIO(body),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert "body" in _named(r, 413)


# --- times out of range ----------------------------------------------------------------------------


def _campaign_body(product_id, **change):
    body = {
        "type": "scan_reward",
        "name": "Winter",
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "product_ids": [product_id],
        "budget_fen": 1_000,
        "tiers": [{"probability": 1, "reward": {"kind": "brand_coupon", "value_fen": 100}}],
    }
    return body | change


@pytest.mark.parametrize(
    "field, value",
    [
        ("starts_at", "0001-01-01T00:00:00+14:00"),  # before year 1 once in UTC
        ("ends_at", "9999-12-31T23:59:59-14:00"),  # after year 9999 once in UTC
        ("ends_at", "9999-12-31T00:00:00Z"),  # in range for Python, but a coupon's expiry would overflow
        ("starts_at", "1969-12-31T23:59:59Z"),
    ],
)
def test_a_campaign_time_out_of_range_is_422_naming_the_field(api, unchanged, field, value):
    brand = api.brand()
    deposit(api, brand, 10_000)
    product = api.product(brand)
    unchanged()
    r = api.post("/api/v1/brand/campaigns", _campaign_body(product["id"], **{field: value}), who=brand)
    assert field in _named(r, 422)


@pytest.mark.parametrize("field", ["produced_on", "expires_on"])
def test_a_batch_day_out_of_range_is_422_naming_the_field(api, unchanged, field):
    brand = api.brand()
    product = api.product(brand)
    unchanged()
    body = {"product_id": product["id"], "quantity": 1, "lot": "L1", "produced_on": "2026-11-01", field: "0001-01-01"}
    assert field in _named(api.post("/api/v1/brand/batches", body, who=brand), 422)


# --- cursors ---------------------------------------------------------------------------------------


def _plain(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _two_pages_of_batches(api):
    brand = api.brand()
    product = api.product(brand)
    for _ in range(3):
        api.batch(brand, product=product, activate=False)
    page = api.get("/api/v1/brand/batches?limit=1", who=brand, expect=200).json
    return brand, page["next_cursor"]


def test_a_cursor_pages_through_the_list_it_came_from(api):
    brand, cursor = _two_pages_of_batches(api)
    page = api.get(f"/api/v1/brand/batches?limit=1&cursor={cursor}", who=brand, expect=200).json
    assert len(page["items"]) == 1 and page["next_cursor"] not in (None, cursor)


T = "2026-01-01T00:00:00"


@pytest.mark.parametrize(
    "path, values",
    [
        ("/api/v1/brand/batches", [T, ["b_1"]]),  # a list where an id belongs
        ("/api/v1/brand/batches", [T, 1e400]),
        ("/api/v1/brand/batches", [T, 10**30]),
        ("/api/v1/brand/batches", [T, "b_" + NUL]),
        ("/api/v1/brand/batches", [[T], "b_1"]),
        ("/api/v1/store/ledger", [1e400]),  # a ledger entry's id is an integer column
        ("/api/v1/store/ledger", [10**30]),
        ("/api/v1/store/ledger", [[1]]),
    ],
    ids=["list", "1e400", "10**30", "nul", "list-time", "ledger-1e400", "ledger-10**30", "ledger-list"],
)
def test_a_made_up_cursor_is_422_naming_cursor(api, path, values):
    who = api.store() if "store" in path else api.brand()
    plain = _plain(values)  # 1e400 is written Infinity, and read back as a float infinity, like 1e400
    for cursor in (plain, plain + ".AAAAAAAAAAAAAAAAAAAAAA"):
        assert "cursor" in _named(api.get(f"{path}?cursor={cursor}", who=who), 422)


def test_an_edited_cursor_is_422_naming_cursor(api):
    brand, cursor = _two_pages_of_batches(api)
    values, mac = cursor.rsplit(".", 1)
    edited = _plain([10**30, "b_1"]) + "." + mac
    assert "cursor" in _named(api.get(f"/api/v1/brand/batches?cursor={edited}", who=brand), 422)


def test_a_cursor_from_another_list_is_422_naming_cursor(api):
    brand, cursor = _two_pages_of_batches(api)
    assert "cursor" in _named(api.get(f"/api/v1/brand/diversion-alerts?cursor={cursor}", who=brand), 422)


def test_a_cursor_signed_under_another_secret_is_422_naming_cursor(api, app):
    brand, cursor = _two_pages_of_batches(api)
    plain = cursor.rsplit(".", 1)[0]
    with app.test_request_context("/api/v1/brand/batches"):
        app.config["SECRET_KEY"], saved = "another-deployment", app.config["SECRET_KEY"]
        try:
            app.preprocess_request()
            foreign = pagination.sign(plain)
        finally:
            app.config["SECRET_KEY"] = saved
    assert "cursor" in _named(api.get(f"/api/v1/brand/batches?cursor={foreign}", who=brand), 422)


def test_a_well_signed_cursor_with_values_of_the_wrong_type_is_still_refused(api, app):
    brand, _ = _two_pages_of_batches(api)
    with app.test_request_context("/api/v1/brand/batches"):
        app.preprocess_request()
        signed = pagination.sign(_plain([10**30, "b_1"]))
    assert "cursor" in _named(api.get(f"/api/v1/brand/batches?cursor={signed}", who=brand), 422)


# --- control characters in strings, paths and queries ----------------------------------------------


def _scene(api):
    """A brand with a funded campaign and a batch, a partner store holding a won coupon, a consumer."""
    brand = api.brand()
    deposit(api, brand, 100_000)
    store = api.store(partner_of=brand)
    batch = api.batch(brand, quantity=5)
    scan_campaign(api, brand, [batch["product"]["id"]])
    consumer = api.consumer()
    code = api.codes(brand, batch)[0]["token"]
    api.post("/api/v1/scans", {"code": code}, who=consumer, expect=200)
    return {"brand": brand, "store": store, "consumer": consumer, "batch": batch}


ITEMS = [{"product_id": "p_1", "quantity": 1}]
CONTROL_CASES = [
    # (who, path, body, field)
    ("admin", "/api/v1/admin/brands", {"name": "Milk" + NUL}, "name"),
    ("admin", "/api/v1/admin/stores", {"name": "Shop\x1b", "lat": 1, "lng": 1, "region_code": "310101"}, "name"),
    ("brand", "/api/v1/brand/products", {"sku": "S1", "name": "Milk" + NUL, "price_fen": 1}, "name"),
    ("brand", "/api/v1/brand/products", {"sku": "S1\x85", "name": "Milk", "price_fen": 1}, "sku"),
    ("brand", "/api/v1/brand/batches/{batch}/void", {"from": 1, "to": 1, "reason": "recall" + NUL}, "reason"),
    ("brand", "/api/v1/brand/partners", {"store_id": "st_" + NUL}, "store_id"),
    ("brand", "/api/v1/brand/blacklist", {"consumer_id": "c_" + NUL}, "consumer_id"),
    ("brand", "/api/v1/brand/blacklist", {"consumer_id": "c_1", "reason": "bot\ud800"}, "reason"),
    ("store", "/api/v1/store/redemptions", {"coupon_code": "AB" + NUL}, "coupon_code"),
    ("consumer", "/api/v1/orders", {"store_id": "st_" + NUL, "items": ITEMS}, "store_id"),
    ("consumer", "/api/v1/scans", {"code": "AQAB" + NUL}, "code"),
    ("admin", "/api/v1/admin/brands/{brand}/deposits", {"amount_fen": 100, "reference": "bank" + NUL}, "reference"),
]


@pytest.mark.parametrize("who, path, body, field", CONTROL_CASES, ids=[f"{c[1]}:{c[3]}" for c in CONTROL_CASES])
def test_a_control_character_in_any_string_is_422_naming_the_field(api, unchanged, who, path, body, field):
    scene = _scene(api)
    headers = api.admin if who == "admin" else scene[who].headers
    path = path.format(batch=scene["batch"]["id"], brand=scene["brand"].id)
    unchanged()
    assert field in _named(api.post(path, body, who=headers), 422)


def test_free_text_keeps_its_line_breaks_and_tabs(api):
    brand = api.brand()
    batch = api.batch(brand, quantity=3)
    body = {"from": batch["serial_from"], "to": batch["serial_from"], "reason": "recall:\r\n\tlabel torn"}
    api.post(f"/api/v1/brand/batches/{batch['id']}/void", body, who=brand, expect=200)
    named = {"sku": "S9", "name": "two\nlines", "price_fen": 1}
    assert "name" in _named(api.post("/api/v1/brand/products", named, who=brand), 422)


@pytest.mark.parametrize(
    "path, field",
    [
        ("/api/v1/brand/campaigns/cp_%00", "campaign_id"),
        ("/api/v1/brand/campaigns/cp_%00/pause", "campaign_id"),
        ("/api/v1/brand/batches/b_%01", "batch_id"),
        ("/api/v1/brand/batches?cursor=%00", "cursor"),
        ("/api/v1/stores/nearby?lat=31.2&lng=121.4&brand_id=b_%00", "brand_id"),
        ("/api/v1/me/coupons?status=%00", "status"),
    ],
)
def test_a_control_character_in_a_path_or_query_parameter_is_422_naming_it(api, unchanged, path, field):
    brand, consumer = api.brand(), api.consumer()
    unchanged()
    who = consumer if path.startswith(("/api/v1/me", "/api/v1/stores")) else brand
    call = api.post if path.endswith("/pause") else api.get
    assert field in _named(call(path, who=who), 422)


def test_a_control_character_in_a_header_is_400_naming_it(api, app, unchanged):
    store = api.store()
    unchanged()
    headers = {**store.headers, "Idempotency-Key": "key\x00one"}
    r = api.client.post("/api/v1/store/payouts", json={"amount_fen": 100}, headers=headers)
    assert "Idempotency-Key" in _named(r, 400)


# --- digits and anchors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=\uff15", "limit"),
        ("limit=\u0665", "limit"),
        ("lat=3\uff11&lng=121.4", "lat"),
        ("radius_m=\u0967000", "radius_m"),
    ],
)
def test_a_query_number_written_in_another_scripts_digits_is_422_naming_it(api, unchanged, query, field):
    consumer = api.consumer()
    unchanged()
    path = "/api/v1/stores/nearby?" + ("" if field == "lat" else "lat=31.2&lng=121.4&") + query
    assert field in _named(api.get(path, who=consumer), 422)


def test_the_export_range_takes_ascii_serials_only(api, unchanged):
    brand = api.brand()
    batch = api.batch(brand, quantity=3)
    unchanged()
    first = batch["serial_from"]
    base = f"/api/v1/brand/batches/{batch['id']}/codes.csv"
    assert api.get(f"{base}?from={first}&to={first}", who=brand).status_code == 200
    assert "from" in _named(
        api.get(f"{base}?from={str(first).translate(str.maketrans('0123456789', '０１２３４５６７８９'))}", who=brand),
        422,
    )


@pytest.mark.parametrize("region_code", ["310115\n", "3１０１１５", "3१०११५", "310115 ", "0310115"])
def test_a_store_region_code_is_six_ascii_digits_and_nothing_after(api, unchanged, region_code):
    unchanged()
    body = {"name": "Shop", "lat": 31.2, "lng": 121.4, "region_code": region_code}
    assert "region_code" in _named(api.post("/api/v1/admin/stores", body, who=api.admin), 422)


def test_a_campaign_or_batch_region_with_a_trailing_newline_is_422(api, unchanged):
    brand = api.brand()
    deposit(api, brand, 10_000)
    product = api.product(brand)
    unchanged()
    body = _campaign_body(product["id"], region_codes=["310115\n"])
    assert "region_codes" in _named(api.post("/api/v1/brand/campaigns", body, who=brand), 422)
    batch = {"product_id": product["id"], "quantity": 1, "lot": "L1", "produced_on": "2026-11-01"}
    batch["region_codes"] = ["3１０１１５"]
    assert "region_codes" in _named(api.post("/api/v1/brand/batches", batch, who=brand), 422)


def test_an_owner_phone_with_a_trailing_newline_is_422(api, unchanged):
    unchanged()
    body = {"name": "Shop", "lat": 31.2, "lng": 121.4, "region_code": "310115", "owner_phone": "13800138000\n"}
    assert "owner_phone" in _named(api.post("/api/v1/admin/stores", body, who=api.admin), 422)


@pytest.mark.parametrize("field, value", [("from", 10**30), ("to", 2**63)])
def test_a_serial_beyond_64_bits_is_422_naming_it(api, unchanged, field, value):
    brand = api.brand()
    batch = api.batch(brand, quantity=3, activate=False)
    unchanged()
    body = {"from": batch["serial_from"], "to": batch["serial_to"], field: value}
    assert field in _named(api.post(f"/api/v1/brand/batches/{batch['id']}/activate", body, who=brand), 422)
    r = api.get(f"/api/v1/brand/batches/{batch['id']}/codes.csv?{field}={value}", who=brand)
    assert field in _named(r, 422)


# --- the class cannot come back ---------------------------------------------------------------------


def _request_schemas(app):
    """Every schema a view loads a request with (flask-smorest's arguments), plus the two loaded by hand."""
    from loyalty.schemas import ScanIn
    from storefront.schemas import NoticeIn

    found = {ScanIn, NoticeIn}
    for view in app.view_functions.values():
        for method in getattr(getattr(view, "view_class", None), "methods", None) or ():
            handler = getattr(view.view_class, method.lower())
            for parameter in getattr(handler, "_apidoc", {}).get("arguments", {}).get("parameters", []):
                found.add(parameter["schema"] if isinstance(parameter["schema"], type) else type(parameter["schema"]))
    return sorted(found, key=lambda s: f"{s.__module__}.{s.__name__}")


def _string_paths(schema):
    """(path into a request, how to wrap a value at that path) for every string field, nested ones included."""
    from marshmallow import fields

    for name, field in schema.fields.items():
        key = field.data_key or name
        inner, many = (field.inner, True) if isinstance(field, fields.List) else (field, False)
        if isinstance(inner, fields.Nested):
            for path, wrap in _string_paths(inner.schema):
                yield f"{key}.{path}", (lambda v, k=key, w=wrap, m=many: {k: [w(v)] if m else w(v)})
        elif isinstance(inner, fields.String):
            yield key, (lambda v, k=key, m=many: {k: [v] if m else v})


def test_every_string_any_request_schema_takes_refuses_a_nul(app):
    from marshmallow import ValidationError

    accepted = []
    with app.test_request_context():
        for schema_class in _request_schemas(app):
            schema = schema_class()
            for path, wrap in _string_paths(schema):
                try:
                    schema.load(wrap("a\x00b"), partial=True)
                except ValidationError as error:
                    if path.split(".")[0] in error.messages:
                        continue
                accepted.append(f"{schema_class.__name__}.{path}")
    assert not accepted, f"use schemas.Text for {accepted}"
