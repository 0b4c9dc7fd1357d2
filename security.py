"""What every response and every request goes through for safety: the client's address behind
trusted proxies, cookie flags, browser security headers, and the API docs page served from our own
origin under a strict Content-Security-Policy.

- `TRUSTED_PROXIES` = n > 0: Werkzeug's ProxyFix takes the client address (and scheme) from the n-th
  hop of `X-Forwarded-For` / `X-Forwarded-Proto` counted from the right, the entries our own proxies
  appended; anything a client put further left is ignored. 0 (the default): those headers are
  ignored and the address is the socket peer's, so a client cannot choose the IP it is throttled by.
- Session cookies are HttpOnly and SameSite=Lax; in production (`APP_ENV=production`) also Secure
  and named with the `__Host-` prefix (host-only, path /, never sent over plain HTTP), and responses
  carry HSTS.
- Every response carries `X-Content-Type-Options: nosniff`; HTML pages also a CSP without inline
  scripts (inline styles only) that forbids framing, `X-Frame-Options: DENY` and a same-origin
  referrer policy. A page that sets its own stricter CSP (the store page) keeps it.
- `/api/docs` is flask-smorest's Swagger UI with its files served from the installed
  swagger_ui_bundle package (OPENAPI_SWAGGER_UI_URL in app.py), and its template replaced by one
  whose start-up script is a file too: no CDN, no inline script.
"""

from __future__ import annotations

import swagger_ui_bundle
from flask import Blueprint, Flask, Response, send_from_directory
from jinja2 import ChoiceLoader, DictLoader
from werkzeug.middleware.proxy_fix import ProxyFix

import settings

DOCS_ASSETS_URL = "/api/docs/static/"

PAGE_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # the pages' own <style> blocks and Swagger UI's style attributes
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
HTML_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"

# flask-smorest's swagger_ui.html with its inline <script> moved into docs-start.js; the page's
# settings travel in data attributes (tojson escapes quotes, <, > and &, so they are attribute-safe).
SWAGGER_UI_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<link href="{{ swagger_ui_url }}swagger-ui.css" rel="stylesheet" type="text/css">
</head>
<body>
<div id="swagger-ui-container" data-spec-url="{{ spec_url }}" data-config='{{ swagger_ui_config | tojson }}'></div>
<script src="{{ swagger_ui_url }}swagger-ui-standalone-preset.js"></script>
<script src="{{ swagger_ui_url }}swagger-ui-bundle.js"></script>
<script src="{{ url_for('api_docs_assets.start') }}"></script>
</body>
</html>
"""
SWAGGER_UI_START = """window.addEventListener("load", function () {
  var holder = document.getElementById("swagger-ui-container");
  var config = JSON.parse(holder.getAttribute("data-config") || "{}");
  config.url = holder.getAttribute("data-spec-url");
  config.dom_id = "#swagger-ui-container";
  window.ui = SwaggerUIBundle(config);
});
"""

docs_assets = Blueprint("api_docs_assets", __name__, url_prefix="/api/docs")


@docs_assets.get("/static/<path:filename>")
def asset(filename):
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)


@docs_assets.get("/docs-start.js")
def start():
    return Response(SWAGGER_UI_START, mimetype="text/javascript", headers={"Cache-Control": "max-age=3600"})


def init_app(app: Flask) -> None:
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    production = settings.is_production(app.config)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,
    )
    if production:
        app.config.update(SESSION_COOKIE_NAME="__Host-session", SESSION_COOKIE_PATH="/", SESSION_COOKIE_DOMAIN=None)

    own = app.jinja_loader  # the app's templates folder, if it has one; looked in before any blueprint's
    app.jinja_loader = ChoiceLoader([DictLoader({"swagger_ui.html": SWAGGER_UI_PAGE}), *([own] if own else [])])
    app.register_blueprint(docs_assets)

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.mimetype == "text/html":
            for name, value in HTML_HEADERS.items():
                response.headers.setdefault(name, value)
        if production:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
