"""Language and local conventions through HTTP: pages in Simplified Chinese unless the browser asks for
English (Accept-Language or ?lang=), money as ¥ with two decimals, times in Asia/Shanghai; API error
messages follow Accept-Language with English when a client sends none; the landing page's warnings
and its mini-app link."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from locale_format import choose, shanghai_minute, yuan
from tests.factories import scan
from tests.money import give_store


def landing(client, url, **kw):
    return client.get("/" + url.split("://", 1)[1].split("/", 1)[1], **kw)


@pytest.fixture
def code(api):
    brand = api.brand()
    return api.codes(brand, api.batch(brand, quantity=3))[0]


def test_the_landing_page_speaks_chinese_by_default(client, code):
    html = landing(client, code["url"]).get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "正品" in html and "Genuine product" not in html


def test_the_landing_page_speaks_english_when_the_browser_asks(client, code):
    html = landing(client, code["url"], headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in html and "Genuine product" in html and "正品" not in html


def test_a_chinese_browser_gets_chinese(client, code):
    html = landing(client, code["url"], headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}).get_data(as_text=True)
    assert "正品" in html


def test_lang_in_the_query_overrides_the_browser(client, code):
    english = landing(client, code["url"] + "?lang=en", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    chinese = landing(client, code["url"] + "?lang=zh", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Genuine product" in english and "正品" in chinese


def test_the_store_page_speaks_chinese_with_yuan_and_beijing_time(api, app, client):
    store = api.store(name="王记小卖部")
    before = datetime.now(UTC).replace(tzinfo=None)
    give_store(app, store.id, available_fen=1250, pending_fen=250)
    after = datetime.now(UTC).replace(tzinfo=None)
    page = client.get("/store").get_data(as_text=True)
    assert "使用门店密钥登录" in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    client.post("/store/login", data={"key": store.key, "csrf": csrf})
    html = client.get("/store").get_data(as_text=True)
    assert "可提现金额" in html and "¥12.50" in html and "+¥15.00" in html and "¥2.50" in html
    assert "核销返款" in html  # the statement's kind, in Chinese
    assert "¥12.50 已计入可提现余额" in html and "¥2.50 待结算" in html  # and what it did, in plain words
    assert shanghai_minute(before) in html or shanghai_minute(after) in html  # Beijing time, UTC+8
    english = client.get("/store?lang=en").get_data(as_text=True)
    assert "Available to pay out" in english and "Coupon reimbursement" in english and "¥12.50" in english
    assert "¥12.50 added to your available balance" in english and "+¥15.00" in english


def test_money_and_times_read_the_chinese_way():
    assert yuan(1250) == "¥12.50" and yuan(-1250) == "−¥12.50" and yuan(5, signed=True) == "+¥0.05"
    assert yuan(123456789) == "¥1,234,567.89" and yuan(None) == "¥0.00"
    assert shanghai_minute(datetime(2026, 12, 31, 17, 30)) == "2027-01-01 01:30"
    assert shanghai_minute(datetime(2026, 6, 1, 0, 0, tzinfo=UTC)) == "2026-06-01 08:00"


def test_the_language_a_request_gets():
    from werkzeug.datastructures import LanguageAccept

    assert choose(None, LanguageAccept(), api=False) == "zh"
    assert choose(None, LanguageAccept(), api=True) == "en"
    assert choose(None, LanguageAccept([("fr", 1)]), api=False) == "zh"
    assert choose(None, LanguageAccept([("zh-Hans-CN", 1)]), api=True) == "zh"
    assert choose("EN_us", LanguageAccept([("zh", 1)]), api=False) == "en"
    assert choose("xx", LanguageAccept([("en", 1)]), api=False) == "en"


def test_api_error_messages_are_english_without_accept_language(api, client):
    brand = api.brand()
    r = client.get("/api/v1/brand/batches/bt_missing", headers=brand.headers)
    assert r.status_code == 404
    assert r.json == {"error": {"code": "not_found", "message": "No such batch.", "fields": {}}}


def test_api_error_messages_follow_accept_language(api, client):
    brand = api.brand()
    headers = {**brand.headers, "Accept-Language": "zh-CN,zh;q=0.9"}
    r = client.get("/api/v1/brand/batches/bt_missing", headers=headers)
    assert r.status_code == 404
    assert r.json == {"error": {"code": "not_found", "message": "批次不存在。", "fields": {}}}
    r = client.get("/api/v1/brand/batches", headers={"Accept-Language": "zh"})
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"
    assert re.search("[\u4e00-\u9fff]", r.json["error"]["message"])
    r = client.get("/api/v1/brand/batches/bt_missing?lang=zh", headers=brand.headers)
    assert r.json["error"]["message"] == "批次不存在。"


def test_the_landing_page_warns_when_a_code_is_scanned_many_times(api, app, client, code):
    for _ in range(app.config["REPEAT_SCAN_WARNING"]):
        scan(api, api.consumer(), code["token"])
    html = landing(client, code["url"]).get_data(as_text=True)
    assert 'data-warning="many_scans"' in html and "疑似假冒" in html
    assert f"此码已被扫描 {app.config['REPEAT_SCAN_WARNING']} 次" in html


def test_the_landing_page_shows_the_far_apart_warning_the_scan_got(api, client, code):
    scan(api, api.consumer(), code["token"], lat=31.23, lng=121.47)  # Shanghai
    body = scan(api, api.consumer(), code["token"], lat=39.90, lng=116.40).json  # Beijing, ~1,070 km away
    assert body["warning"]["code"] == "far_apart"
    html = landing(client, code["url"], headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'data-warning="far_apart"' in html and "Possible counterfeit." in html
    km = re.search(r"first scanned (\d+) km away", body["warning"]["message"]).group(1)
    assert f"scanned {km} km away from where it was first scanned" in html


def test_scans_near_each_other_get_no_warning(api, client, code):
    scan(api, api.consumer(), code["token"], lat=31.23, lng=121.47)
    scan(api, api.consumer(), code["token"], lat=31.24, lng=121.48)
    html = landing(client, code["url"]).get_data(as_text=True)
    assert "data-warning" not in html and "已被扫描过" in html


def test_the_mini_app_button_opens_the_configured_page_with_the_code(app, client, code, monkeypatch):
    monkeypatch.setitem(app.config, "MINIAPP_APPID", "wx1234567890abcdef")
    monkeypatch.setitem(app.config, "MINIAPP_PATH", "pages/scan/index")
    html = landing(client, code["url"]).get_data(as_text=True)
    href = re.search(r'href="(weixin://[^"]+)"', html).group(1)
    assert href.replace("&amp;", "&") == (
        "weixin://dl/business/?appid=wx1234567890abcdef&path=pages%2Fscan%2Findex"
        f"&query=code%3D{code['token']}&env_version=release"
    )
    assert "打开小程序领取奖励" in html


def test_without_a_mini_app_id_the_page_says_how_to_claim_instead(app, client, code, monkeypatch):
    monkeypatch.setitem(app.config, "MINIAPP_APPID", None)
    html = landing(client, code["url"]).get_data(as_text=True)
    assert "weixin://" not in html and "请在我们的小程序中再次扫描此码领取奖励" in html


def test_the_landing_page_shows_the_first_scan_in_beijing_time(api, client, code):
    before = datetime.now(UTC).replace(tzinfo=None)
    scan(api, api.consumer(), code["token"])
    scan(api, api.consumer(), code["token"])
    html = landing(client, code["url"]).get_data(as_text=True)
    assert "已被扫描 2 次" in html
    assert any(shanghai_minute(before + timedelta(seconds=s)) in html for s in (0, 60))


def test_a_store_page_opened_in_english_stays_english_through_its_forms(api, app, client):
    store = api.store()
    give_store(app, store.id, available_fen=1000)
    page = client.get("/store?lang=en").get_data(as_text=True)
    assert 'action="/store/login?lang=en"' in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = client.post("/store/login?lang=en", data={"key": store.key, "csrf": csrf})
    assert r.status_code == 303 and r.headers["Location"].endswith("/store?lang=en")
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Available to pay out" in html and 'action="/store/payouts?lang=en"' in html


def test_an_error_response_says_it_varies_by_language(client):
    r = client.get("/api/v1/brand/batches")
    assert r.status_code == 401 and "Accept-Language" in r.headers["Vary"]


def test_an_unknown_api_path_answers_in_the_language_asked_for(client):
    assert client.get("/api/v1/no-such-thing").json["error"]["message"] == "No such endpoint."
    r = client.get("/api/v1/no-such-thing", headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 404 and r.json["error"] == {"code": "not_found", "message": "接口不存在。", "fields": {}}


@pytest.mark.parametrize(
    ("amount", "message"), [("20", "目前可提现金额只有 ¥10.00。"), ("0.5", "最低提现金额为 ¥1.00。")]
)
def test_a_refused_payout_is_explained_in_chinese(api, app, client, amount, message):
    store = api.store()
    give_store(app, store.id, available_fen=1000)
    page = client.get("/store").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    client.post("/store/login", data={"key": store.key, "csrf": csrf})
    html = client.get("/store").get_data(as_text=True)
    client.post(
        "/store/payouts",
        data={
            "amount": amount,
            "csrf": re.search(r'name="csrf" value="([^"]+)"', html).group(1),
            "request_id": "r" + amount,
        },
    )
    assert message in client.get("/store").get_data(as_text=True)
