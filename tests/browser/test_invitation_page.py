"""The referral invitation page in headless Chromium at a phone's viewport, in Chinese by default.

The screenshot goes to test-artifacts/invitation.png (its path is printed).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.test_store_page import ARTIFACTS, CHROMIUM, live_server, phone  # noqa: F401 (fixtures)
from tests.factories import deposit

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian's chromium at {CHROMIUM}"),
]


def test_a_friend_opens_an_invitation_link_and_reads_who_invites_and_the_offer(api, live_server, phone):  # noqa: F811
    brand = api.brand("光明乳业 Bright Dairy")
    deposit(api, brand, 100_000)
    now = datetime.now(UTC)
    api.post(
        "/api/v1/brand/campaigns",
        {
            "type": "referral",
            "name": "邀请好友喝牛奶",
            "starts_at": (now - timedelta(minutes=1)).isoformat(),
            "ends_at": (now + timedelta(days=30)).isoformat(),
            "budget_fen": 50_000,
            "trigger": "first_order",
            "reward": {"kind": "commission", "percent": 10},
        },
        who=brand,
        expect=201,
    )
    alice = api.consumer()
    link = api.get("/api/v1/me/referral", who=alice, expect=200).json["link"]
    code = link.rsplit("/", 1)[1]

    phone.goto(f"{live_server}/r/{code}")
    assert phone.locator("html").get_attribute("lang") == "zh-CN"
    assert "邀请您加入" in phone.get_by_test_id("inviter").inner_text()
    assert phone.get_by_test_id("code").inner_text() == code
    offers = phone.get_by_test_id("offers").inner_text()
    assert "光明乳业" in offers and "订单金额的 10%" in offers
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, "invitation.png")
    phone.screenshot(path=path, full_page=True)
    print(f"screenshot: {path}")

    phone.goto(f"{live_server}/r/{code}?lang=en")
    assert "invites you" in phone.get_by_test_id("inviter").inner_text()
