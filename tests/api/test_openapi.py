"""The OpenAPI document at /api/openapi.json is what clients are generated from: it validates, every
operation says what it is and which 4xx it answers, bodies are documented, and the error shape it
declares is the one every error answer has (tests/factories.py checks each error the suite sees)."""

from __future__ import annotations

import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator

from tests.factories import documented_error_validator

METHODS = ("get", "post", "put", "patch", "delete")

# POSTs that take no body: the path names everything the action needs.
NO_BODY = {
    ("post", "/api/v1/admin/brands/{brand_id}/api-keys"): "the brand is in the path",
    ("post", "/api/v1/admin/stores/{store_id}/api-keys"): "the store is in the path",
    ("post", "/api/v1/brand/keys/rotate"): "the brand is the caller",
    ("post", "/api/v1/brand/keys/{key_id}/revoke"): "the key is in the path",
    ("post", "/api/v1/admin/payouts/run"): "runs every requested payout",
    ("post", "/api/v1/orders/{order_id}/refund"): "refunds the whole order",
    ("post", "/api/v1/brand/campaigns/{campaign_id}/{action}"): "the action is in the path",
}


@pytest.fixture(scope="module")
def spec(app):
    return app.test_client().get("/api/openapi.json").get_json()


def operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method, path, op


def test_the_document_validates(spec):
    assert spec["openapi"].startswith("3.0")
    problems = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in OpenAPIV30SpecValidator(spec).iter_errors()
    ]
    assert problems == []


def test_every_operation_has_a_summary_and_documents_its_4xx(spec):
    no_summary = [f"{m.upper()} {p}" for m, p, op in operations(spec) if not op.get("summary")]
    no_4xx = [
        f"{m.upper()} {p}" for m, p, op in operations(spec) if not any(s.startswith("4") for s in op["responses"])
    ]
    assert no_summary == [] and no_4xx == []


def test_every_error_response_is_documented_with_our_error_shape(spec):
    responses = spec["components"]["responses"]
    for method, path, op in operations(spec):
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")) or status == "default":
                resolved = responses[response["$ref"].rsplit("/", 1)[1]]
                schema = resolved["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, f"{method} {path} {status}"
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert set(spec["components"]["schemas"]["ErrorDetail"]["required"]) == {"code", "message", "fields"}
    assert "Retry-After" in responses["TOO_MANY_REQUESTS"]["headers"]


def test_every_post_documents_its_body_or_why_it_has_none(spec):
    missing = [
        f"{m.upper()} {p}"
        for m, p, op in operations(spec)
        if m in ("post", "put", "patch") and "requestBody" not in op and (m, p) not in NO_BODY
    ]
    assert missing == []
    assert all("requestBody" not in spec["paths"][p][m] for m, p in NO_BODY), "a listed POST has a body now"


def test_the_payment_notice_documents_its_body_and_signature_header(spec):
    op = spec["paths"]["/api/v1/payments/notify"]["post"]
    assert "application/json" in op["requestBody"]["content"]
    header = next(p for p in op["parameters"] if p["in"] == "header")
    assert header["name"] == "X-Signature" and header["required"] is True


def test_scan_answer_types_its_nested_objects(spec):
    props = spec["components"]["schemas"]["ScanOut"]["properties"]
    for name in ("product", "store", "warning", "first_scan_place"):
        refs = [part["$ref"] for part in props[name].get("anyOf", [props[name]]) if "$ref" in part]
        assert refs and spec["components"]["schemas"][refs[0].rsplit("/", 1)[1]]["properties"], name


# --- the errors we answer, one of each kind, against the document ------------------------------------
def _documented(spec, method, path, status) -> bool:
    op = spec["paths"][path][method]
    return str(status) in op["responses"] or "default" in op["responses"]


def _assert_documented_error(app, spec, response, method, path, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert not list(documented_error_validator(app).iter_errors(response.get_json()))
    assert str(status) in spec["paths"][path][method]["responses"], f"{status} not documented on {method} {path}"


def test_each_kind_of_error_answer_is_documented_on_its_operation(api, app, spec, monkeypatch):
    brand, consumer = api.brand(), api.consumer()
    r = api.get("/api/v1/brand/balance")
    _assert_documented_error(app, spec, r, "get", "/api/v1/brand/balance", 401)
    r = api.get("/api/v1/brand/balance", who=consumer)
    _assert_documented_error(app, spec, r, "get", "/api/v1/brand/balance", 403)
    r = api.get("/api/v1/brand/batches/no-such-batch", who=brand)
    _assert_documented_error(app, spec, r, "get", "/api/v1/brand/batches/{batch_id}", 404)
    product = api.product(brand)
    r = api.post("/api/v1/brand/products", {"sku": product["sku"], "name": "Again", "price_fen": 100}, who=brand)
    _assert_documented_error(app, spec, r, "post", "/api/v1/brand/products", 409)
    r = api.post("/api/v1/brand/batches", {"product_id": product["id"], "quantity": 0}, who=brand)
    _assert_documented_error(app, spec, r, "post", "/api/v1/brand/batches", 422)
    assert set(r.json["error"]["fields"]) >= {"quantity", "lot", "produced_on"}

    codes = api.codes(brand, api.batch(brand, product, quantity=3))
    monkeypatch.setitem(app.config, "SCAN_LIMIT_PER_CONSUMER", 1)
    api.post("/api/v1/scans", {"code": codes[0]["token"]}, who=consumer, expect=200)
    r = api.post("/api/v1/scans", {"code": codes[1]["token"]}, who=consumer)
    _assert_documented_error(app, spec, r, "post", "/api/v1/scans", 429)
    assert int(r.headers["Retry-After"]) >= 1

    big = {"sku": "BIG", "name": "x" * app.config["MAX_BODY_BYTES"], "price_fen": 1}
    r = api.post("/api/v1/brand/products", big, who=brand)
    assert r.status_code == 413 and not list(documented_error_validator(app).iter_errors(r.get_json()))
    assert _documented(spec, "post", "/api/v1/brand/products", 413)


def test_the_suite_checks_every_error_answer_against_the_document(app):
    """The check every test client runs (tests/factories.py) refuses an error in another shape."""
    validator = documented_error_validator(app)
    assert not list(validator.iter_errors({"error": {"code": "not_found", "message": "No.", "fields": {}}}))
    flask_smorest_default = {"code": 404, "status": "Not Found", "message": "No.", "errors": {}}
    assert list(validator.iter_errors(flask_smorest_default))
    assert list(validator.iter_errors({"error": {"code": "x", "message": "y", "fields": {"a": "not a list"}}}))
    nested = {"items": {"0": {"quantity": ["Must be greater than or equal to 1."]}}}  # a list item's reasons
    assert not list(validator.iter_errors({"error": {"code": "validation_error", "message": "y", "fields": nested}}))
