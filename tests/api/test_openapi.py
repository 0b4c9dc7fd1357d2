"""The OpenAPI document at /api/openapi.json is what clients are generated from: it validates, every
operation says what it is and which 4xx it answers, bodies are documented, and the error shape it
declares is the one every error answer has (tests/factories.py checks each error the suite sees).

Every request body and JSON success answer has an example that validates against its schema. The
usual way: each field of the schemas says `metadata={"example": ...}` (a Nested or a List of Nested
takes its schema's), so the document shows every property's example and the whole answer's is composed
from them; an operation whose answer the property examples would misdescribe gives its own with
`@bp.response(200, Out, example=...)` (or `@bp.arguments(In, example=...)`). Use realistic values:
ids as new_id makes them, money in integer fen, times in UTC with a Z."""

from __future__ import annotations

import re

import pytest
from openapi_schema_validator import OAS30Validator
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
    ("post", "/api/v1/brand/campaigns/{campaign_id}/{action}"): "the action is in the path",
}

# Operations whose success answer is not a JSON document, so it has no example to show.
NO_JSON_ANSWER = {
    ("get", "/api/v1/brand/batches/{batch_id}/codes.csv"): "a streamed CSV file",
    ("get", "/api/v1/brand/scans.csv"): "a streamed CSV file",
    ("get", "/api/v1/brand/batches/{batch_id}/labels.zip"): "a ZIP of label images",
    ("get", "/api/v1/brand/codes/{token}/qr.{fmt}"): "a PNG or SVG image",
    ("delete", "/api/v1/brand/blacklist/{consumer_id}"): "204, no body",
}
UTC_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z\Z")


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


# --- examples: every request body and success answer shows one, valid against its own schema -------
def _component(spec, ref: str) -> tuple[str, dict]:
    name = ref.rsplit("/", 1)[1]
    return name, spec["components"]["schemas"][name]


def composed_example(spec, schema: dict, where: str, missing: list[str]):
    """The example a client is shown for `schema`: its own `example`, else one composed of its parts'
    (each property's, an array's item's, the referenced schema's, the non-null branch of an `anyOf`).
    Each part that has none is named in `missing`."""
    if "example" in schema:
        return schema["example"]
    if "$ref" in schema:
        name, component = _component(spec, schema["$ref"])
        return composed_example(spec, component, name, missing)
    if "allOf" in schema:
        merged = {}
        for part in schema["allOf"]:
            merged.update(composed_example(spec, part, where, missing) or {})
        return merged
    for key in ("anyOf", "oneOf"):
        if key in schema:  # apispec's nullable Nested: [{"type": "object", "nullable": true}, {"$ref": ...}]
            branches = [b for b in schema[key] if "$ref" in b or "properties" in b or "example" in b] or schema[key]
            return composed_example(spec, branches[0], where, missing)
    if schema.get("type") == "array" and "items" in schema:
        return [composed_example(spec, schema["items"], f"{where}[]", missing)]
    if schema.get("properties"):
        return {
            name: composed_example(spec, prop, f"{where}.{name}", missing)
            for name, prop in schema["properties"].items()
        }
    missing.append(where)
    return None


def media_examples(spec, media: dict, where: str, missing: list[str]) -> list:
    """The examples of a request body's or answer's JSON: the operation's own (`example` or `examples`),
    else the one composed from its schema."""
    if "example" in media:
        return [media["example"]]
    if "examples" in media:
        return [example["value"] for example in media["examples"].values()]
    return [composed_example(spec, media["schema"], where, missing)]


def _utc_moments_without_z(spec, schema: dict, value, where: str) -> list[str]:
    """Every `date-time` in an example is ISO 8601 UTC with a Z, as UtcDateTime writes and clients expect."""
    while "$ref" in schema:
        schema = _component(spec, schema["$ref"])[1]
    found = []
    if schema.get("format") == "date-time" and isinstance(value, str) and not UTC_MOMENT.match(value):
        found.append(f"{where}: {value}")
    for key in ("allOf", "anyOf", "oneOf"):
        for part in schema.get(key, []):
            found += _utc_moments_without_z(spec, part, value, where)
    if isinstance(value, list) and "items" in schema:
        for item in value:
            found += _utc_moments_without_z(spec, schema["items"], item, f"{where}[]")
    if isinstance(value, dict):
        for name, prop in schema.get("properties", {}).items():
            if name in value:
                found += _utc_moments_without_z(spec, prop, value[name], f"{where}.{name}")
    return found


def test_every_operation_has_an_example_that_matches_its_schema(spec):
    """Clients are generated from the document: every request body and every JSON success answer shows
    an example (the operation's own, or one composed of its schema's property examples) that is valid
    against the schema it illustrates."""
    missing, invalid = [], []
    for method, path, op in operations(spec):
        media = []
        if "requestBody" in op:
            media.append(("request", op["requestBody"]["content"]["application/json"]))
        successes = {status: answer for status, answer in op["responses"].items() if status.startswith("2")}
        assert successes, f"{method.upper()} {path} documents no success answer"
        for status, answer in successes.items():
            if "application/json" in answer.get("content", {}):
                media.append((status, answer["content"]["application/json"]))
            else:
                assert (method, path) in NO_JSON_ANSWER, f"{method.upper()} {path} {status} has no JSON body"
        for part, content in media:
            where = f"{method.upper()} {path} {part}"
            parts_missing: list[str] = []
            examples = media_examples(spec, content, where, parts_missing)
            missing += [f"{where}: {name}" for name in parts_missing]
            if parts_missing:
                continue
            validator = OAS30Validator(
                {**content["schema"], "components": spec["components"]}, format_checker=OAS30Validator.FORMAT_CHECKER
            )
            for example in examples:
                invalid += [
                    f"{where}: {'/'.join(map(str, e.absolute_path))} {e.message}"
                    for e in validator.iter_errors(example)
                ]
                invalid += [
                    f"{where}: not UTC with Z: {m}"
                    for m in _utc_moments_without_z(spec, content["schema"], example, "")
                ]
    assert missing == []
    assert invalid == []
    for method, path in NO_JSON_ANSWER:
        answers = spec["paths"][path][method]["responses"]
        json_now = [
            s for s, answer in answers.items() if s.startswith("2") and "application/json" in answer.get("content", {})
        ]
        assert json_now == [], f"{method.upper()} {path} is listed in NO_JSON_ANSWER but answers JSON now"


def test_the_error_schema_and_each_error_answer_have_examples_that_match_it(spec):
    missing: list[str] = []
    examples = {"Error": composed_example(spec, {"$ref": "#/components/schemas/Error"}, "Error", missing)}
    for name, response in spec["components"]["responses"].items():
        media = response["content"]["application/json"]
        if "example" in media or name != "DEFAULT_ERROR":  # DEFAULT_ERROR stands for many errors: no one example
            examples[name] = media.get("example")
    assert missing == [] and None not in examples.values(), examples
    validator = OAS30Validator({"$ref": "#/components/schemas/Error", "components": spec["components"]})
    assert {name: [e.message for e in validator.iter_errors(example)] for name, example in examples.items()} == {
        name: [] for name in examples
    }


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
