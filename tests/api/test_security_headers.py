"""Browser-facing safety: security headers on pages and API answers, the API docs page without a CDN,
production cookies, and the client address behind trusted proxies."""

import re
import uuid

import pytest
from sqlalchemy import text

import db

STRONG = {
    "APP_ENV": "production",
    "ADMIN_API_KEY": "adm-7Qe9vLk2pXw4Rz8TnY1cBf6HsJ3uMa5D",
    "MINIAPP_SECRET": "mini-Hq3Zr8Lw1Kp6Vx9Ct2Ny5Bm4Jf7Gd0Sa",
    "PAYMENT_WEBHOOK_SECRET": "pay-Xc4Vb7Nm1Qw9Er3Ty6Ui8Op2As5Df0Gh",
    "SECRET_KEY": "ses-Lk9Jh2Gf5Ds8Aq1Wz4Xc7Ev3Rb6Tn0My",
    "CODE_MASTER_KEY": "n7Dq2Zp9Lx4Wv1Kc8Rt5Yb3Hm6Jf0Gs-Ea_Uo2Ni4Tc",
}


@pytest.fixture
def make_app(app_settings):
    """Another app over the test database, with some settings changed; disposed after the test."""
    from app import create_app

    made = []

    def make(**changes):
        made.append(create_app({**app_settings, **changes}))
        return made[-1]

    yield make
    for other in made:
        db.dispose(other)


def _assert_page_headers(response):
    csp = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in directives.get("script-src", directives["default-src"])
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/store", "/c/not-a-code", "/01/09506000134352/10/L1/21/1?s=x", "/api/docs"])
def test_every_html_page_forbids_framing_and_inline_scripts(client, path):
    r = client.get(path)
    assert r.mimetype == "text/html"
    _assert_page_headers(r)


def test_html_pages_carry_no_inline_script(api, client):
    brand = api.brand()
    batch = api.batch(brand, quantity=1)
    landing = api.codes(brand, batch)[0]["url"].replace("https://qr.example.com", "")
    for path in ("/store", landing, "/api/docs"):
        page = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert not re.search(r"\son[a-z]+\s*=", page), path  # no inline event handlers


@pytest.mark.parametrize("path", ["/api/v1/stores/nearby?lat=1&lng=1", "/api/openapi.json", "/healthz"])
def test_api_answers_are_nosniff(client, path):
    assert client.get(path).headers["X-Content-Type-Options"] == "nosniff"


def test_an_error_answer_is_nosniff_too(api):
    r = api.get("/api/v1/brand/api-keys", who={"Authorization": "Bearer bk_nope"}, expect=401)
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_the_api_docs_page_loads_only_same_origin_files_that_exist(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    styles = re.findall(r'<link[^>]*\bhref="([^"]+)"', html)
    assert len(scripts) == 3 and styles
    for url in scripts + styles:
        assert url.startswith("/") and not url.startswith("//"), url  # our origin, never a CDN
        r = client.get(url)
        assert r.status_code == 200 and len(r.data) > 100, url
        assert r.mimetype in ("text/javascript", "application/javascript", "text/css"), (url, r.mimetype)
    assert "SwaggerUIBundle" in client.get(scripts[1]).get_data(as_text=True)
    spec = re.search(r'data-spec-url="([^"]+)"', html).group(1)
    assert client.get(spec).json["info"]["title"]


def test_the_docs_files_route_serves_only_the_bundle(client):
    assert client.get("/api/docs/static/../../../app.py").status_code == 404
    assert client.get("/api/docs/static/%2e%2e/%2e%2e/settings.py").status_code == 404


def test_in_development_the_page_cookie_is_httponly_and_lax(api, client):
    store = api.store()
    page = client.get("/store").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    cookie = client.post("/store/login", data={"csrf": csrf, "key": store.key}).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_in_production_the_page_cookie_is_secure_host_only_httponly_and_lax(api, make_app):
    store = api.store()
    client = make_app(**STRONG).test_client()
    page = client.get("/store", base_url="https://q.example.com")
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    r = client.post("/store/login", data={"csrf": csrf, "key": store.key}, base_url="https://q.example.com")
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("__Host-session=")
    attributes = {a.strip().split("=")[0] for a in cookie.split(";")[1:]}
    assert {"Secure", "HttpOnly", "SameSite", "Path"} <= attributes and "Domain" not in attributes
    assert "SameSite=Lax" in cookie and "Path=/;" in cookie + ";"
    signed_in = client.get("/store", base_url="https://q.example.com").get_data(as_text=True)
    assert 'data-testid="available"' in signed_in


# --- the client's address behind proxies -----------------------------------------------------------
@pytest.fixture
def code(api):
    brand = api.brand()
    batch = api.batch(brand, quantity=8)
    return [c["token"] for c in api.codes(brand, batch)]


def scan_ips(app) -> list[str]:
    with db.engine(app).connect() as conn:
        return [row[0] for row in conn.execute(text("SELECT ip FROM scans ORDER BY id"))]


def _random_ip(prefix="198.51") -> str:
    n = uuid.uuid4().int
    return f"{prefix}.{n % 250}.{(n >> 8) % 250 + 1}"


def test_without_trusted_proxies_a_forwarded_for_header_is_ignored(api, app, code, monkeypatch):
    monkeypatch.setitem(app.config, "SCAN_LIMIT_PER_IP", 2)
    peer = _random_ip("10.9")
    consumer = api.consumer()

    def send(token):
        spoofed = {**consumer.headers, "X-Forwarded-For": _random_ip()}
        return api.post("/api/v1/scans", {"code": token}, who=spoofed, environ_base={"REMOTE_ADDR": peer})

    assert [send(code[0]).status_code, send(code[1]).status_code] == [200, 200]
    assert scan_ips(app) == [peer, peer]
    assert send(code[2]).status_code == 429  # a made-up address does not buy a new quota


def test_behind_one_trusted_proxy_the_client_address_is_the_one_it_appended(api, app, code, make_app):
    behind = make_app(TRUSTED_PROXIES=1, SCAN_LIMIT_PER_IP=2)
    client = behind.test_client()
    consumer = api.consumer()
    balancer, phone = _random_ip("10.8"), _random_ip("203.0")

    def send(token, forwarded):
        return client.post(
            "/api/v1/scans",
            json={"code": token},
            headers={**consumer.headers, "X-Forwarded-For": forwarded},
            environ_base={"REMOTE_ADDR": balancer},
        )

    # the client's own (spoofed) entry comes first; the balancer appended the real address last
    assert send(code[0], f"1.2.3.4, {phone}").status_code == 200
    assert send(code[1], phone).status_code == 200
    assert scan_ips(app) == [phone, phone]
    assert send(code[2], phone).status_code == 429  # throttled as that phone, not as the balancer
    assert send(code[3], _random_ip("203.0")).status_code == 200  # another phone behind the same balancer
