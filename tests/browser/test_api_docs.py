"""The API docs page in headless Chromium: Swagger UI renders under our Content-Security-Policy with
every file from our own origin."""

from __future__ import annotations

import os

import pytest

from tests.browser.test_store_page import CHROMIUM, live_server, phone  # noqa: F401  (fixtures)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian's chromium at {CHROMIUM}"),
]


def test_the_api_docs_render_from_our_origin_without_breaking_the_content_security_policy(live_server, phone):  # noqa: F811
    requested, complaints = [], []
    phone.on("request", lambda request: requested.append(request.url))
    phone.on("console", lambda message: complaints.append(message.text) if message.type == "error" else None)

    phone.goto(f"{live_server}/api/docs")
    phone.wait_for_selector(".swagger-ui .info .title")
    phone.wait_for_selector('.opblock-summary-path[data-path="/api/v1/auth/consumer"]')

    assert "QR trace" in phone.inner_text(".swagger-ui .info .title")
    assert requested and all(url.startswith(live_server) or url.startswith("data:") for url in requested), requested
    assert not [c for c in complaints if "Content Security Policy" in c or "Refused" in c], complaints
