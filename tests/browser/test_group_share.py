"""The group-buy share page in headless Chromium at a phone's viewport (390×844): price, seats, time
left, in Chinese. The screenshot goes to test-artifacts/group-share.png."""

from __future__ import annotations

import os

import pytest

from tests.browser.test_store_page import ARTIFACTS, CHROMIUM, live_server, phone  # noqa: F401 (fixtures)
from tests.factories import deposit, notify_payment

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian's chromium at {CHROMIUM}"),
]


def test_a_shared_group_shows_its_price_seats_and_time_left_on_a_phone(api, app, live_server, phone, monkeypatch):  # noqa: F811
    monkeypatch.setitem(app.config, "MINIAPP_APPID", "wx0123456789abcdef")
    brand = api.brand("光明乳业")
    deposit(api, brand, 10_000)
    store = api.store(name="全家 淮海中路店", partner_of=brand)
    product = api.product(brand, name="光明鲜牛奶 1L", price_fen=1500)
    campaign = api.post(
        "/api/v1/brand/campaigns",
        {
            "type": "group_buy",
            "name": "三人团",
            "product_id": product["id"],
            "group_size": 3,
            "price_fen": 990,
            "duration_seconds": 86400,
        },
        who=brand,
        expect=201,
    ).json
    opened = api.post(
        f"/api/v1/group-buys/{campaign['id']}/groups", {"store_id": store.id}, who=api.consumer(), expect=201
    ).json
    notify_payment(api, opened["order"], expect=200)

    phone.goto(f"{live_server}/g/{opened['group_id']}")
    assert phone.inner_text("[data-testid=price]") == "¥9.90"
    assert phone.inner_text("[data-testid=seats-left]") == "还差 2 人"
    assert "北京时间" in phone.inner_text("[data-testid=time-left]")
    assert phone.locator(".seat.taken").count() == 1
    assert "group%3D" in phone.get_attribute("[data-testid=join]", "href") or "group=" in phone.get_attribute(
        "[data-testid=join]", "href"
    )
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert phone.locator("[data-testid=join]").bounding_box()["height"] >= 40

    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, "group-share.png")
    phone.screenshot(path=path, full_page=True)
    print(f"\ngroup share page screenshot: {path}")
    assert os.path.getsize(path) > 10_000
