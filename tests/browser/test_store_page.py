"""The store page in headless Chromium at a phone's viewport: sign in, read the balance, ask for a payout.

The screenshot goes to test-artifacts/store-page.png (its path is printed).
"""

from __future__ import annotations

import os
import threading

import pytest
from werkzeug.serving import make_server

from tests.money import give_store, store_balance

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "test-artifacts")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian's chromium at {CHROMIUM}"),
]


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def phone():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        context.close()
        browser.close()


def test_store_owner_signs_in_sees_the_balance_and_asks_for_a_payout_on_a_phone(api, app, live_server, phone):
    store = api.store(name="王记便利店 Wang's Corner Shop")
    give_store(app, store.id, available_fen=128_850, pending_fen=4_200)

    phone.goto(f"{live_server}/store")
    phone.fill("#key", store.key)
    phone.click("button:has-text('登录')")  # the page speaks Chinese to a zh-CN phone
    phone.wait_for_selector("[data-testid=available]")
    assert store.key not in phone.url
    assert phone.inner_text("[data-testid=available]") == "¥1,288.50"
    assert phone.inner_text("[data-testid=pending]") == "¥42.00"
    cookies = phone.context.cookies()
    assert cookies and all(store.key not in c["value"] for c in cookies)
    assert any(c["httpOnly"] for c in cookies)

    phone.fill("#amount", "300")
    phone.click("button:has-text('提现')")
    phone.wait_for_selector("text=已申请提现 ¥300.00")
    assert phone.inner_text("[data-testid=available]") == "¥988.50"
    assert phone.inner_text("[data-testid=in-transit]") == "¥300.00"
    assert "¥300.00" in phone.inner_text("[data-testid=payouts]")
    assert "已申请" in phone.inner_text("[data-testid=payouts]")
    assert store_balance(app, store.id, "in_transit") == 30_000

    # laid out for the phone: nothing wider than the screen, buttons big enough to tap
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    box = phone.locator("button:has-text('提现')").bounding_box()
    assert box["height"] >= 40

    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, "store-page.png")
    phone.screenshot(path=path, full_page=True)
    print(f"\nstore page screenshot: {path}")
    assert os.path.getsize(path) > 10_000
