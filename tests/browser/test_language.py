"""The landing and store pages in headless Chromium at a phone's viewport (390×844), in Chinese (a zh-CN
phone, and the default) and in English (an en-US phone): screenshots in test-artifacts/."""

from __future__ import annotations

import os

import pytest

from tests.browser.test_store_page import ARTIFACTS, CHROMIUM, live_server  # noqa: F401 (a fixture)
from tests.factories import scan
from tests.money import give_store

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian's chromium at {CHROMIUM}"),
]

TEXT = {
    "zh-CN": {"genuine": "真码，已被扫描过", "warning": "疑似假冒", "sign_in": "登录", "available": "可提现金额"},
    "en-US": {
        "genuine": "Genuine code, scanned before",
        "warning": "Possible counterfeit.",
        "sign_in": "Sign in",
        "available": "Available to pay out",
    },
}


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


def phone_in(browser, locale: str):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True, locale=locale
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page


def shoot(page, name: str) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, name)
    page.screenshot(path=path, full_page=True)
    print(f"\nscreenshot: {path}")
    assert os.path.getsize(path) > 10_000


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_landing_page_on_a_phone_in_its_language(api, app, live_server, browser, locale, monkeypatch):  # noqa: F811
    monkeypatch.setitem(app.config, "MINIAPP_APPID", "wx1234567890abcdef")
    brand = api.brand()
    code = api.codes(brand, api.batch(brand, quantity=1))[0]
    scan(api, api.consumer(), code["token"], lat=31.23, lng=121.47)  # Shanghai
    scan(api, api.consumer(), code["token"], lat=39.90, lng=116.40)  # Beijing: far apart
    context, page = phone_in(browser, locale)
    page.goto(f"{live_server}/c/{code['token']}")
    text = TEXT[locale]
    assert text["genuine"] in page.inner_text("h1")
    assert text["warning"] in page.inner_text("[role=alert]")
    href = page.get_attribute("[data-testid=miniapp]", "href")
    assert href.startswith("weixin://dl/business/?appid=wx1234567890abcdef&") and code["token"] in href
    assert page.locator("[data-testid=miniapp]").bounding_box()["height"] >= 40
    shoot(page, f"landing-{locale[:2]}.png")
    context.close()


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_store_page_on_a_phone_in_its_language(api, app, live_server, browser, locale):  # noqa: F811
    store = api.store(name="王记便利店")
    give_store(app, store.id, available_fen=128_850, pending_fen=4_200)
    context, page = phone_in(browser, locale)
    text = TEXT[locale]
    page.goto(f"{live_server}/store")
    page.fill("#key", store.key)
    page.click(f"button:has-text('{text['sign_in']}')")
    page.wait_for_selector("[data-testid=available]")
    assert text["available"] in page.inner_text("section.hero")
    assert page.inner_text("[data-testid=available]") == "¥1,288.50"
    assert "+¥1,330.50" in page.inner_text("[data-testid=statement]")  # one credit to available and pending
    shoot(page, f"store-{locale[:2]}.png")
    context.close()
