"""The store owner's phone page: sign in with the key (never in a URL), see money, ask for a payout."""

import re

import pytest

from tests.factories import deposit, scan, scan_campaign
from tests.money import give_store, store_balance


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def field(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]+)"', html).group(1)


@pytest.fixture(autouse=True)
def english(client):
    """These tests read the page's English text (tests/api/test_language.py reads its Chinese)."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def owner(api, app, client):
    """A store with ¥10.00 available, and a browser-like client signed in to its page."""
    store = api.store(name="Wang's Corner Shop")
    give_store(app, store.id, available_fen=1000, pending_fen=250)
    page = client.get("/store").get_data(as_text=True)
    r = client.post("/store/login", data={"key": store.key, "csrf": csrf_of(page)})
    assert r.status_code == 303 and r.headers["Location"].endswith("/store")
    return store


def test_the_page_asks_for_the_store_key_first(client):
    r = client.get("/store")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'name="key"' in html and 'type="password"' in html
    assert r.headers["Cache-Control"] == "no-store"
    assert 'name="viewport"' in html


def test_a_wrong_key_is_refused(client):
    page = client.get("/store").get_data(as_text=True)
    r = client.post("/store/login", data={"key": "sk_wrong", "csrf": csrf_of(page)})
    assert r.status_code == 401 and "not valid" in r.get_data(as_text=True)


def test_signing_in_sets_a_session_cookie_without_the_key(api, client):
    store = api.store()
    page = client.get("/store").get_data(as_text=True)
    r = client.post("/store/login", data={"key": store.key, "csrf": csrf_of(page)})
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and store.key not in cookie
    assert store.key not in r.headers["Location"]


def test_signing_in_without_the_form_token_does_nothing(api, client):
    store = api.store()
    client.get("/store")
    client.post("/store/login", data={"key": store.key, "csrf": "forged"})
    assert 'name="key"' in client.get("/store").get_data(as_text=True)


def test_the_signed_in_page_shows_balance_statement_and_payout_form(owner, client):
    html = client.get("/store").get_data(as_text=True)
    assert "Wang&#39;s Corner Shop" in html or "Wang's Corner Shop" in html
    assert "¥10.00" in html and "¥2.50" in html
    assert "Coupon reimbursement" in html and 'name="amount"' in html


def _statement(html: str) -> list[str]:
    """The statement's lines as a reader sees them: title, what it did, amount (tags and times dropped)."""
    section = html.split('data-testid="statement"', 1)[1].split("</ul>", 1)[0]
    lines = []
    for item in section.split("<li>")[1:]:
        words = [w.strip() for w in re.sub(r"<small>.*?</small>", "", item, flags=re.S).split("<") if w.strip()]
        lines.append(" | ".join(w.split(">", 1)[1].strip() for w in words if ">" in w and w.split(">", 1)[1].strip()))
    return [line.replace("&#39;", "'") for line in lines]


def test_the_statement_says_once_what_each_payout_did(owner, api, client):
    html = client.get("/store").get_data(as_text=True)
    form = {"amount": "4", "csrf": csrf_of(html), "request_id": field(html, "request_id")}
    client.post("/store/payouts", data=form)
    api.post("/api/v1/admin/payouts/run", who=api.admin, expect=202)
    assert _statement(client.get("/store").get_data(as_text=True)) == [
        "Payout paid | ¥4.00 arrived in your bank account | ¥4.00",
        "Payout requested | ¥4.00 left your available balance on its way to your bank account | −¥4.00",
        "Coupon reimbursement | ¥10.00 added to your available balance · "
        "¥2.50 pending: available once the refund window closes | +¥12.50",
    ]
    assert _statement(client.get("/store?lang=zh").get_data(as_text=True)) == [
        "提现已到账 | ¥4.00 已打到您的银行账户 | ¥4.00",
        "申请提现 | ¥4.00 已从可提现余额转出，正在打款到您的银行账户 | −¥4.00",
        "核销返款 | ¥10.00 已计入可提现余额 · ¥2.50 待结算：退款期结束后即可提现 | +¥12.50",
    ]


def test_a_settlement_reads_as_money_becoming_available_not_as_income(api, app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SETTLEMENT_DELAY_SECONDS", 0)
    brand = api.brand()
    deposit(api, brand, 10_000)
    store = api.store(partner_of=brand)
    batch = api.batch(brand, quantity=1)
    scan_campaign(api, brand, [batch["product"]["id"]], budget_fen=5_000)
    coupon = scan(api, api.consumer(), api.codes(brand, batch)[0]["token"]).json["rewards"][0]
    api.post("/api/v1/store/redemptions", {"coupon_code": coupon["code"]}, who=store, expect=200)
    app.test_cli_runner().invoke(args=["jobs", "run-due"])
    page = client.get("/store").get_data(as_text=True)
    client.post("/store/login", data={"key": store.key, "csrf": csrf_of(page)})
    assert _statement(client.get("/store").get_data(as_text=True)) == [
        "Settled | ¥5.00 moved from pending to available: you can pay it out now | ¥5.00",
        "Coupon reimbursement | ¥5.00 pending: available once the refund window closes | +¥5.00",
    ]


def test_asking_for_a_payout_on_the_page_moves_the_money(owner, app, client):
    html = client.get("/store").get_data(as_text=True)
    r = client.post(
        "/store/payouts", data={"amount": "2.50", "csrf": csrf_of(html), "request_id": field(html, "request_id")}
    )
    assert r.status_code == 303
    html = client.get("/store").get_data(as_text=True)
    assert "Payout of ¥2.50 requested" in html and "requested" in html
    assert store_balance(app, owner.id, "available") == 750
    assert store_balance(app, owner.id, "in_transit") == 250


def test_a_double_tap_on_the_payout_button_asks_once(owner, app, client):
    html = client.get("/store").get_data(as_text=True)
    form = {"amount": "3", "csrf": csrf_of(html), "request_id": field(html, "request_id")}
    client.post("/store/payouts", data=form)
    client.post("/store/payouts", data=form)
    assert store_balance(app, owner.id, "in_transit") == 300


def test_a_payout_form_without_the_session_token_is_ignored(owner, app, client):
    client.post("/store/payouts", data={"amount": "2.50", "csrf": "from-another-site"})
    assert store_balance(app, owner.id, "available") == 1000
    assert "form expired" in client.get("/store").get_data(as_text=True)


@pytest.mark.parametrize(
    "amount, message",
    [
        ("20", "Only ¥10.00 is available to pay out now."),
        ("0.5", "smallest payout"),
        ("abc", "Enter an amount"),
        ("1.234", "Enter an amount"),
        ("-3", "Enter an amount"),
    ],
)
def test_payout_form_errors_are_shown_and_change_nothing(owner, app, client, amount, message):
    html = client.get("/store").get_data(as_text=True)
    client.post("/store/payouts", data={"amount": amount, "csrf": csrf_of(html), "request_id": "x" + amount})
    assert message in client.get("/store").get_data(as_text=True)
    assert store_balance(app, owner.id, "available") == 1000


def test_signing_out_ends_the_session(owner, client):
    html = client.get("/store").get_data(as_text=True)
    client.post("/store/logout", data={"csrf": csrf_of(html)})
    assert 'name="key"' in client.get("/store").get_data(as_text=True)


def test_the_page_shows_only_the_signed_in_stores_money(owner, api, app, client):
    other = api.store(name="Other Shop")
    give_store(app, other.id, available_fen=987_654)
    html = client.get("/store").get_data(as_text=True)
    assert "9,876.54" not in html and "Other Shop" not in html
