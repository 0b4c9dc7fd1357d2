"""The brand dashboard page /brand through the test client: sign in with a brand key (never in a URL or
the cookie), CSRF on every form, revocation signs the page out, each brand sees only its own figures
and alerts, and the triage buttons move alerts as the API does."""

from __future__ import annotations

import json
import re

import pytest

from tests.api.test_credentials import new_key, revoke
from tests.api.test_insight import SHANGHAI, run_rollups, settled, world  # noqa: F401 (fixtures)
from tests.factories import scan

SHENZHEN = (22.5431, 114.0579)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def data_of(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.S)[1])


def sign_in(client, key: str):
    page = client.get("/brand").get_data(as_text=True)
    return client.post("/brand/login", data={"key": key, "csrf": csrf_of(page)})


@pytest.fixture(autouse=True)
def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def alert(api, app, world):  # noqa: F811
    """A scan-cluster alert for the world's brand: three consumers scan Shanghai milk in Shenzhen."""
    api.store(lat=SHENZHEN[0], lng=SHENZHEN[1], region_code="440305")
    batch = api.batch(world["brand"], product=world["milk"], quantity=3, region_codes=["310000"])
    for code in api.codes(world["brand"], batch):
        scan(api, api.consumer(), code["token"], lat=SHENZHEN[0] + 0.001, lng=SHENZHEN[1] + 0.001)
    run_rollups(app)
    items = api.get("/api/v1/brand/diversion-alerts", who=world["brand"], expect=200).json["items"]
    assert len(items) == 1
    return items[0]


def test_the_page_asks_for_a_brand_key_first_without_caching_or_inline_script(client):
    r = client.get("/brand")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'name="key"' in html and 'type="password"' in html
    assert r.headers["Cache-Control"] == "no-store"
    csp = dict(part.strip().split(" ", 1) for part in r.headers["Content-Security-Policy"].split(";"))
    assert csp["script-src"] == "'self'" and csp["frame-ancestors"] == "'none'"


def test_the_page_speaks_chinese_by_default(client):
    del client.environ_base["HTTP_ACCEPT_LANGUAGE"]
    html = client.get("/brand").get_data(as_text=True)
    assert 'lang="zh-CN"' in html and "品牌" in html
    assert 'lang="en"' in client.get("/brand?lang=en").get_data(as_text=True)


def test_a_wrong_key_or_a_store_key_is_refused(api, client):
    assert sign_in(client, "bk_wrong").status_code == 401
    r = sign_in(client, api.store().key)
    assert r.status_code == 401 and "not valid" in r.get_data(as_text=True)


def test_signing_in_sets_a_session_cookie_without_the_key(api, client):
    brand = api.brand()
    r = sign_in(client, brand.key)
    assert r.status_code == 303 and r.headers["Location"].endswith("/brand")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and brand.key not in cookie
    assert brand.key not in r.headers["Location"]


def test_signing_in_without_the_form_token_does_nothing(api, client):
    brand = api.brand()
    client.get("/brand")
    r = client.post("/brand/login", data={"key": brand.key, "csrf": "forged"})
    assert r.status_code == 303
    assert 'name="key"' in client.get("/brand").get_data(as_text=True)


def test_the_dashboard_shows_the_brands_figures(api, client, world):  # noqa: F811
    assert sign_in(client, world["brand"].key).status_code == 303
    r = client.get("/brand")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert "Bright Dairy" in html
    for testid, shown in {
        "kpi-scans": "5",
        "kpi-first-scans": "4",
        "kpi-consumers": "3",
        "kpi-repurchase": "33.3%",
        "kpi-issued": "3",
        "kpi-redeemed": "1",
        "kpi-cost": "¥5.00",
        "kpi-orders": "3",
        "kpi-revenue": "¥39.00",
    }.items():
        assert re.search(rf'data-testid="{testid}">{re.escape(shown)}<', html), testid
    charts = data_of(html)["charts"]
    assert sum(charts["daily"]["series"][0]["data"]) == 5 and len(charts["daily"]["labels"]) == 30
    assert dict(zip(charts["regions"]["labels"], charts["regions"]["series"][0]["data"])) == {
        "Shanghai": 4,
        "Beijing": 1,
    }
    assert sum(charts["coupons"]["series"][0]["data"]) == 3 and sum(charts["coupons"]["series"][1]["data"]) == 1
    assert charts["stores"]["labels"] == ["Shanghai store", "Beijing store"]
    assert charts["stores"]["series"][0]["data"] == [3, 0]
    assert charts["campaigns"]["series"][0]["data"] == [5.0] and charts["campaigns"]["series"][1]["data"] == [31.0]
    assert "520.0%" in html  # ROI (3100 - 500) / 500
    assert '<script src="/brand/static/echarts-5.5.1.min.js">' in html
    assert "<script>" not in html  # nothing inline


def test_the_chart_library_and_its_licence_are_served_from_our_own_origin(client):
    r = client.get("/brand/static/echarts-5.5.1.min.js")
    assert r.status_code == 200 and b"echarts" in r.data[:2000] and r.mimetype.endswith("javascript")
    assert b"Apache License" in client.get("/brand/static/echarts-5.5.1.LICENSE").data
    assert client.get("/brand/static/brand-dashboard.js").status_code == 200


def test_revoking_the_key_signs_the_page_out(api, client, world):  # noqa: F811
    second = new_key(api, world["brand"])
    sign_in(client, second.key)
    assert "kpi-scans" in client.get("/brand").get_data(as_text=True)
    assert revoke(api, world["brand"], second.data["id"]).status_code == 200
    html = client.get("/brand").get_data(as_text=True)
    assert 'name="key"' in html and "kpi-scans" not in html


def test_another_brand_sees_none_of_it(api, client, world, alert):  # noqa: F811
    other = api.brand("Someone else")
    sign_in(client, other.key)
    html = client.get("/brand").get_data(as_text=True)
    assert "Someone else" in html and "Bright Dairy" not in html and "Shanghai store" not in html
    assert 'data-testid="kpi-scans">0<' in html and 'data-testid="kpi-revenue">¥0.00<' in html
    assert f'data-alert="{alert["id"]}"' not in html
    charts = data_of(html)["charts"]
    assert sum(charts["daily"]["series"][0]["data"]) == 0 and charts["stores"]["labels"] == []
    # Nor can it triage the world's alert through its own page.
    r = client.post(f"/brand/alerts/{alert['id']}/dismissed", data={"csrf": csrf_of(html), "note": "not ours"})
    assert r.status_code == 303
    assert "No such diversion alert." in client.get("/brand").get_data(as_text=True)
    again = api.get("/api/v1/brand/diversion-alerts", who=world["brand"], expect=200).json["items"][0]
    assert (again["status"], again["note"]) == ("open", None)


def test_triage_buttons_move_an_alert_with_a_note(api, client, world, alert):  # noqa: F811
    sign_in(client, world["brand"].key)
    html = client.get("/brand").get_data(as_text=True)
    assert f'data-alert="{alert["id"]}"' in html and "3 consumers, 3 scans" in html
    assert "Seen in Guangdong, expected in Shanghai" in html
    r = client.post(
        f"/brand/alerts/{alert['id']}/acknowledged", data={"csrf": csrf_of(html), "note": "Calling the distributor"}
    )
    assert r.status_code == 303 and r.headers["Location"].endswith("/brand")
    html = client.get("/brand").get_data(as_text=True)
    assert "Alert acknowledged." in html and "Calling the distributor" in html
    client.post(f"/brand/alerts/{alert['id']}/confirmed", data={"csrf": csrf_of(html), "note": "Confirmed by audit"})
    html = client.get("/brand").get_data(as_text=True)
    assert "Diversion confirmed." in html and f'data-alert="{alert["id"]}"' not in html  # settled: off the list
    body = api.get("/api/v1/brand/diversion-alerts", who=world["brand"], expect=200).json["items"][0]
    assert (body["status"], body["note"]) == ("confirmed", "Confirmed by audit")
    client.post(f"/brand/alerts/{alert['id']}/dismissed", data={"csrf": csrf_of(html)})
    assert "triaged already" in client.get("/brand").get_data(as_text=True)


def test_triage_without_the_form_token_does_nothing(api, client, world, alert):  # noqa: F811
    sign_in(client, world["brand"].key)
    client.get("/brand")
    r = client.post(f"/brand/alerts/{alert['id']}/dismissed", data={"csrf": "forged"})
    assert r.status_code == 303
    assert "The form expired" in client.get("/brand").get_data(as_text=True)
    body = api.get("/api/v1/brand/diversion-alerts", who=world["brand"], expect=200).json["items"][0]
    assert body["status"] == "open"


@pytest.mark.parametrize("alert_id", ["abc", "99999999999999999999999", "0"])
def test_triaging_an_unknown_alert_says_so(api, client, alert_id):
    brand = api.brand()
    sign_in(client, brand.key)
    html = client.get("/brand").get_data(as_text=True)
    r = client.post(f"/brand/alerts/{alert_id}/acknowledged", data={"csrf": csrf_of(html)})
    assert r.status_code == 303
    assert "No such diversion alert." in client.get("/brand").get_data(as_text=True)


def test_triage_and_sign_out_need_a_signed_in_brand(api, client, world):  # noqa: F811
    html = client.get("/brand").get_data(as_text=True)
    assert client.post("/brand/alerts/1/dismissed", data={"csrf": csrf_of(html)}).status_code == 303
    sign_in(client, world["brand"].key)
    html = client.get("/brand").get_data(as_text=True)
    assert client.post("/brand/logout", data={"csrf": csrf_of(html)}).status_code == 303
    assert 'name="key"' in client.get("/brand").get_data(as_text=True)
