"""Scanning through the consumer API: verdicts, claims, rewards, warnings, abuse limits."""

import uuid

import pytest

from bench.support import all_at_once
from tests.factories import deposit, scan, scan_campaign


@pytest.fixture
def shop(api):
    """A funded brand with an activated item batch and a live 'every scan wins 5 yuan' campaign."""
    brand = api.brand()
    deposit(api, brand, 1_000_000)
    batch = api.batch(brand, quantity=60)
    campaign = scan_campaign(api, brand, [batch["product"]["id"]], budget_fen=100_000)
    return brand, batch, api.codes(brand, batch), campaign


def test_first_scan_is_genuine_and_claims_a_brand_coupon(api, shop):
    brand, batch, codes, campaign = shop
    consumer = api.consumer()
    body = scan(api, consumer, codes[0]["url"], lat=31.23, lng=121.47).json
    assert body["verdict"] == "genuine" and body["scan_count"] == 1
    assert body["product"]["name"] == "Fresh milk 1L"
    assert [(r["kind"], r["value_fen"]) for r in body["rewards"]] == [("brand_coupon", 500)]
    assert body["first_scan_place"] == {"lat": 31.23, "lng": 121.47}
    wallet = api.get("/api/v1/me/coupons", who=consumer, expect=200).json["items"]
    assert [c["coupon_id"] for c in wallet] == [body["rewards"][0]["coupon_id"]]


def test_the_same_consumer_rescanning_sees_the_same_rewards_not_new_ones(api, shop):
    _, _, codes, _ = shop
    consumer = api.consumer()
    first = scan(api, consumer, codes[0]["token"]).json
    again = scan(api, consumer, codes[0]["token"]).json
    assert again["verdict"] == "genuine_repeat" and again["scan_count"] == 2
    assert [r["coupon_id"] for r in again["rewards"]] == [r["coupon_id"] for r in first["rewards"]]
    assert len(api.get("/api/v1/me/coupons", who=consumer).json["items"]) == 1


def test_a_second_phone_scanning_the_same_code_gets_no_reward(api, shop):
    _, _, codes, _ = shop
    scan(api, api.consumer(), codes[0]["token"])
    other = api.consumer()
    body = scan(api, other, codes[0]["token"]).json
    assert body["verdict"] == "genuine_repeat" and body["rewards"] == []
    assert body["first_scanned_at"] is not None
    assert api.get("/api/v1/me/coupons", who=other).json["items"] == []


def test_gs1_uris_scan_like_short_codes(api):
    brand = api.brand()
    batch = api.batch(brand, quantity=2, format="gs1")
    url = api.codes(brand, batch)[0]["url"]
    assert scan(api, api.consumer(), url).json["verdict"] == "genuine"


def test_every_verdict_through_the_scan_endpoint(api, app):
    brand = api.brand()
    batch = api.batch(brand, quantity=10, activate=False)
    codes = api.codes(brand, batch)
    consumer = api.consumer()
    s0 = batch["serial_from"]
    api.post(f"/api/v1/brand/batches/{batch['id']}/activate", {"from": s0, "to": s0 + 4}, who=brand, expect=200)
    api.post(
        f"/api/v1/brand/batches/{batch['id']}/void",
        {"from": s0 + 1, "to": s0 + 1, "reason": "damaged"},
        who=brand,
        expect=200,
    )
    assert scan(api, consumer, codes[0]["token"]).json["verdict"] == "genuine"
    assert scan(api, consumer, codes[0]["token"]).json["verdict"] == "genuine_repeat"
    assert scan(api, consumer, codes[1]["token"]).json["verdict"] == "voided"
    assert scan(api, consumer, codes[7]["token"]).json["verdict"] == "inactive"
    forged = codes[2]["token"][:-2] + ("AA" if codes[2]["token"][-2:] != "AA" else "BB")
    assert scan(api, consumer, forged).json["verdict"] == "forged"
    assert scan(api, consumer, "hello world").json["verdict"] == "forged"
    import db
    from codes import keys, tokens

    with app.app_context(), db.session_scope(app) as session:
        _, secret = keys.secret_for(session, int(batch["key_id"]))  # an opaque string in the API
    unknown = tokens.short_token(secret, int(batch["key_id"]), batch["serial_to"] + 10_000)
    assert scan(api, consumer, unknown).json["verdict"] == "unknown"
    api.post(f"/api/v1/brand/keys/{batch['key_id']}/revoke", who=brand, expect=200)
    assert scan(api, consumer, codes[3]["token"]).json["verdict"] == "revoked_key"


def test_dead_codes_never_reward(api, shop):
    brand, batch, codes, _ = shop
    api.post(
        f"/api/v1/brand/batches/{batch['id']}/void",
        {"from": codes[5]["serial"], "to": codes[5]["serial"], "reason": "recall"},
        who=brand,
        expect=200,
    )
    assert scan(api, api.consumer(), codes[5]["token"]).json["rewards"] == []


def test_many_scans_of_one_code_warn_of_a_copy(api, shop):
    _, _, codes, _ = shop
    for _ in range(4):
        assert scan(api, api.consumer(), codes[0]["token"]).json["warning"] is None
    body = scan(api, api.consumer(), codes[0]["token"]).json
    assert body["warning"]["code"] == "many_scans"


def test_scans_far_apart_within_two_days_warn_of_a_copy(api, shop):
    _, _, codes, _ = shop
    scan(api, api.consumer(), codes[0]["token"], lat=31.23, lng=121.47)  # Shanghai
    body = scan(api, api.consumer(), codes[0]["token"], lat=39.90, lng=116.40).json  # Beijing
    assert body["warning"]["code"] == "far_apart"


def test_blacklisted_consumers_are_recorded_but_get_no_reward_and_do_not_claim(api, shop):
    brand, _, codes, _ = shop
    farmer = api.consumer()
    api.post("/api/v1/brand/blacklist", {"consumer_id": farmer.id, "reason": "scan farm"}, who=brand, expect=201)
    body = scan(api, farmer, codes[0]["token"]).json
    assert body["verdict"] == "genuine" and body["rewards"] == []
    honest = scan(api, api.consumer(), codes[0]["token"]).json
    assert len(honest["rewards"]) == 1, "the blacklisted scan must not have taken the claim"
    assert [b["consumer_id"] for b in api.get("/api/v1/brand/blacklist", who=brand).json["items"]] == [farmer.id]


def test_per_consumer_scan_limit_answers_429_with_retry_after(api, app, shop, monkeypatch):
    _, _, codes, _ = shop
    monkeypatch.setitem(app.config, "SCAN_LIMIT_PER_CONSUMER", 3)
    consumer = api.consumer()
    for i in range(3):
        scan(api, consumer, codes[i]["token"])
    r = scan(api, consumer, codes[3]["token"], expect=429)
    assert r.json["error"]["code"] == "throttled" and int(r.headers["Retry-After"]) >= 1
    assert scan(api, api.consumer(), codes[3]["token"]).json["rewards"], "the throttled scan claimed nothing"


def test_per_ip_scan_limit_applies_across_consumers(api, app, shop, monkeypatch):
    _, _, codes, _ = shop
    monkeypatch.setitem(app.config, "SCAN_LIMIT_PER_IP", 2)
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    for i in range(2):
        api.post(
            "/api/v1/scans",
            {"code": codes[i]["token"]},
            who=api.consumer(),
            expect=200,
            environ_base={"REMOTE_ADDR": ip},
        )
    r = api.post("/api/v1/scans", {"code": codes[2]["token"]}, who=api.consumer(), environ_base={"REMOTE_ADDR": ip})
    assert r.status_code == 429


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "code"),
        ({"code": ""}, "code"),
        ({"code": "x", "lat": 91, "lng": 0}, "lat"),
        ({"code": "x", "lat": 30}, "lng"),
        ({"code": 5}, "code"),
    ],
)
def test_invalid_scan_requests_name_the_field(api, body, field):
    r = api.post("/api/v1/scans", body, who=api.consumer(), expect=422)
    assert field in r.json["error"]["fields"]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"code": "x", "lat": True, "lng": 121.5}, "lat"),
        ({"code": "x", "lat": 31.2, "lng": 121.5, "extra": 1}, "extra"),
        ({"code": "x", "lat": "north", "lng": 121.5}, "lat"),
        ({"code": "x" * 2049}, "code"),
        ({"code": None}, "code"),
    ],
)
def test_unusual_scan_bodies_get_the_schemas_own_errors(api, body, field):
    """The endpoint checks the everyday body itself and hands everything else to ScanIn."""
    r = api.post("/api/v1/scans", body, who=api.consumer(), expect=422)
    assert field in r.json["error"]["fields"] and r.json["error"]["code"] == "validation_error"


def test_a_body_that_is_not_json_is_a_400_naming_the_body(api):
    r = api.client.post(
        "/api/v1/scans",
        data="{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.consumer().key}"},
    )
    assert r.status_code == 400 and "body" in r.json["error"]["fields"]


def test_coordinates_sent_as_numeric_strings_are_still_accepted(api, shop):
    _, _, codes, _ = shop
    body = scan(api, api.consumer(), codes[0]["token"], lat="31.23", lng="121.47").json
    assert body["verdict"] == "genuine" and body["first_scan_place"] == {"lat": 31.23, "lng": 121.47}


def test_scan_responses_are_exactly_what_the_documented_schema_gives(api, shop):
    """The endpoint writes its JSON without ScanOut's dump: holding it to the schema keeps the two equal."""
    from loyalty.schemas import ScanOut

    _, _, codes, _ = shop
    consumer = api.consumer()
    other = api.consumer()
    bodies = [
        scan(api, consumer, codes[0]["token"], lat=31.23, lng=121.47).json,
        scan(api, consumer, codes[0]["token"]).json,
        scan(api, consumer, "not-a-code").json,
    ]
    for _ in range(4):  # a copied label: the warning
        bodies.append(scan(api, other, codes[0]["token"]).json)
    shape = set(ScanOut().fields) - {"notice"}
    for body in bodies:
        assert ScanOut().dump(body) == body
        assert ScanOut().validate(body) == {}
        assert set(body) == shape, set(body) ^ shape
    assert bodies[0]["rewards"] and bodies[2]["verdict"] == "forged" and bodies[-1]["warning"]["code"] == "many_scans"


def test_a_remembered_consumer_token_still_expires(api, shop, monkeypatch):
    """Verified tokens are remembered per process, but past their age they are refused like any other."""
    import time

    from identity import auth

    _, _, codes, _ = shop
    consumer = api.consumer()
    scan(api, consumer, codes[0]["token"])  # verified and remembered
    later = time.time() + auth.CONSUMER_TOKEN_MAX_AGE + 60
    monkeypatch.setattr(time, "time", lambda: later)
    r = api.post("/api/v1/scans", {"code": codes[1]["token"]}, who=consumer)
    assert r.status_code == 401 and "expired" in r.json["error"]["message"]


def test_a_forged_consumer_token_is_refused_even_after_a_real_one_was_remembered(api, shop):
    _, _, codes, _ = shop
    consumer = api.consumer()
    scan(api, consumer, codes[0]["token"])
    middle = len(consumer.key) - 10  # inside the signature, away from its last character's padding bits
    forged = consumer.key[:middle] + ("A" if consumer.key[middle] != "A" else "B") + consumer.key[middle + 1 :]
    r = api.client.post(
        "/api/v1/scans", json={"code": codes[1]["token"]}, headers={"Authorization": f"Bearer {forged}"}
    )
    assert r.status_code == 401


def test_scanning_needs_a_consumer_session(api, shop):
    brand, _, codes, _ = shop
    assert api.post("/api/v1/scans", {"code": codes[0]["token"]}).status_code == 401
    assert api.post("/api/v1/scans", {"code": codes[0]["token"]}, who=brand).status_code == 403


def test_fifty_phones_scanning_one_code_at_once_make_exactly_one_claim(api, app, shop):
    _, _, codes, campaign = shop
    consumers = [api.consumer() for _ in range(50)]

    def phone(i, client):
        r = client.post("/api/v1/scans", json={"code": codes[0]["token"]}, headers=consumers[i].headers)
        return r.status_code, r.json

    results = all_at_once(50, lambda i: app.test_client(), phone)
    assert all(status == 200 for status, _ in results), [r for r in results if r[0] != 200][:2]
    winners = [body for _, body in results if body["rewards"]]
    assert len(winners) == 1
    assert sorted(body["scan_count"] for _, body in results) == list(range(1, 51))
    assert [body["verdict"] for _, body in results].count("genuine") == 1
    got = api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=shop[0]).json
    assert got["issued"] == 1 and got["committed_fen"] == 500


def test_trace_lists_consumer_scans_with_the_claiming_one_first(api, shop):
    brand, _, codes, _ = shop
    scan(api, api.consumer(), codes[0]["token"], lat=31.23, lng=121.47)
    scan(api, api.consumer(), codes[0]["token"])
    trace = api.get(f"/api/v1/brand/codes/{codes[0]['token']}/trace", who=brand, expect=200).json
    scanned = [e for e in trace["events"] if e["type"] == "scanned"]
    assert [e["detail"]["first"] for e in scanned] == [True, False]
    assert trace["verdict"] == "genuine_repeat"


def test_a_code_packed_before_its_first_scan_is_still_claimed_exactly_once(api):
    brand = api.brand()
    deposit(api, brand, 100_000)
    case = api.codes(brand, api.batch(brand, quantity=1, kind="case"))[0]
    batch = api.batch(brand, quantity=2)
    items = api.codes(brand, batch)
    api.post(
        "/api/v1/brand/aggregations", {"parent": case["token"], "children": [items[0]["token"]]}, who=brand, expect=201
    )
    scan_campaign(api, brand, [batch["product"]["id"]], budget_fen=5_000)
    first = scan(api, api.consumer(), items[0]["token"]).json
    second = scan(api, api.consumer(), items[0]["token"]).json
    assert (first["verdict"], len(first["rewards"])) == ("genuine", 1)
    assert (second["verdict"], second["rewards"]) == ("genuine_repeat", [])
