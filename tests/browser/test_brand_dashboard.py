"""The brand dashboard in headless Chromium at a laptop's 1280×800 and a phone's 390×844: the brand signs
in with its key, every chart is drawn by ECharts with the known world's figures, nothing breaks the
page's CSP, and the layout fits. Screenshots: test-artifacts/brand-dashboard-1280.png and -390.png."""

from __future__ import annotations

import os

import pytest

from tests.api.test_brand_dashboard import alert  # noqa: F401 (a fixture)
from tests.api.test_insight import settled, world  # noqa: F401 (fixtures)
from tests.browser.test_store_page import ARTIFACTS, CHROMIUM, live_server  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian's chromium at {CHROMIUM}"),
]

CHARTS = ("daily", "regions", "coupons", "stores", "campaigns")
SCREENS = {
    1280: {"viewport": {"width": 1280, "height": 800}},
    390: {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True},
}

# What ECharts holds for each chart: its series' names and data as drawn.
DRAWN = """() => Object.fromEntries([...document.querySelectorAll('[data-chart]')].map(el => {
  const chart = echarts.getInstanceByDom(el);
  const option = chart ? chart.getOption() : {series: []};
  return [el.dataset.chart, {
    series: option.series.map(s => ({name: s.name, data: s.data})),
    canvas: !!el.querySelector('canvas'), width: el.clientWidth, height: el.clientHeight,
  }];
}))"""


@pytest.fixture
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_brand_reads_every_chart_drawn_from_its_figures(chromium, live_server, world, alert, width):  # noqa: F811
    context = chromium.new_context(locale="zh-CN", **SCREENS[width])
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "resource" not in m.text else None)
    page.on("response", lambda r: problems.append(r.url) if r.status >= 400 and "favicon" not in r.url else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        page.goto(f"{live_server}/brand")
        page.fill("#key", world["brand"].key)
        page.click("button:has-text('登录')")
        page.wait_for_selector("[data-testid=kpi-scans]")
        assert world["brand"].key not in page.url
        page.wait_for_function("() => document.querySelectorAll('[data-chart] canvas').length === 5")

        # The world's 5 scans and the alert's 3 (three more consumers, each a first scan and a coupon).
        assert page.inner_text("[data-testid=kpi-scans]") == "8"
        assert page.inner_text("[data-testid=kpi-consumers]") == "6"
        assert page.inner_text("[data-testid=kpi-repurchase]") == "16.7%"  # Ann, of 6 with first scans
        assert page.inner_text("[data-testid=kpi-cost]") == "¥5.00"
        assert page.inner_text("[data-testid=kpi-revenue]") == "¥39.00"
        assert "每日扫码" in page.inner_text("body")  # a zh-CN browser gets the Chinese page

        drawn = page.evaluate(DRAWN)
        assert sorted(drawn) == sorted(CHARTS)
        for name, chart in drawn.items():
            assert chart["canvas"] and chart["width"] > 200 and chart["height"] > 200, name
            assert chart["series"] and chart["series"][0]["data"], name
        daily = drawn["daily"]["series"]
        assert len(daily[0]["data"]) == 30 and sum(daily[0]["data"]) == 8 and sum(daily[1]["data"]) == 7
        assert sorted(drawn["regions"]["series"][0]["data"]) == [1, 3, 4]  # Beijing, Guangdong, Shanghai
        coupons = drawn["coupons"]["series"]
        assert (sum(coupons[0]["data"]), sum(coupons[1]["data"])) == (6, 1)
        assert drawn["stores"]["series"][0]["data"] == [3, 0]
        assert drawn["campaigns"]["series"][0]["data"] == [5] and drawn["campaigns"]["series"][1]["data"] == [31]
        assert page.locator(f"[data-alert='{alert['id']}'] button").count() == 3  # acknowledge, confirm, dismiss

        assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing wider than the screen
        assert problems == []  # no script error, no CSP refusal, no missing file (but the favicon)
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, f"brand-dashboard-{width}.png")
        page.screenshot(path=path, full_page=True)
        print(f"\nscreenshot: {path}")
        assert os.path.getsize(path) > 20_000
    finally:
        context.close()


def test_the_brand_acknowledges_an_alert_from_the_page(chromium, live_server, api, world, alert):  # noqa: F811
    context = chromium.new_context(locale="zh-CN", **SCREENS[390])
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{live_server}/brand")
        page.fill("#key", world["brand"].key)
        page.click("button:has-text('登录')")
        item = page.locator(f"[data-alert='{alert['id']}']")
        item.locator("input[name=note]").fill("已联系经销商")
        item.locator("button:has-text('知悉')").click()
        page.wait_for_selector("text=已确认收到预警")
        body = api.get("/api/v1/brand/diversion-alerts", who=world["brand"], expect=200).json["items"][0]
        assert (body["status"], body["note"]) == ("acknowledged", "已联系经销商")
    finally:
        context.close()
