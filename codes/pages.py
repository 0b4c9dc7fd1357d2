"""Public landing page for phone-camera scans: answers like a GS1 resolver, claims nothing."""

from urllib.parse import quote, urlencode

from flask import Blueprint, current_app, render_template, request
from flask_babel import lazy_gettext as _l

from codes.catalog import catalog
from codes.models import LIVE
from codes.verify import latest_warning, verify
from db import get_session, utcnow

bp = Blueprint("landing", __name__, template_folder="templates")

STATUS = {
    "genuine": 200,
    "genuine_repeat": 200,
    "forged": 404,
    "unknown": 404,
    "inactive": 410,
    "voided": 410,
    "revoked_key": 410,
}

TEXT = {
    "genuine": (_l("Genuine product"), _l("This code is authentic and has not been scanned before.")),
    "genuine_repeat": (
        _l("Genuine code, scanned before"),
        _l("This code is authentic but has already been scanned."),
    ),
    "forged": (_l("Not a valid code"), _l("We could not verify this code. The product may be counterfeit.")),
    "unknown": (_l("Unknown code"), _l("This code is not registered with any brand we serve.")),
    "inactive": (
        _l("Not yet released"),
        _l("This code has not been activated; the item should not be on sale yet."),
    ),
    "voided": (_l("Code withdrawn"), _l("The brand has withdrawn this code (recall or damaged label).")),
    "revoked_key": (_l("Code no longer valid"), _l("The brand has revoked the key this code was signed with.")),
}


def miniapp_link(appid: str | None, path: str, **params: str) -> str | None:
    """WeChat's plain URL scheme that opens the mini app's page with the query `params` (the landing
    page: code=<the code>); None without an AppID."""
    if not appid:
        return None
    query = urlencode(params)
    return "weixin://dl/business/?" + "&".join(
        f"{name}={quote(value, safe='')}"
        for name, value in (("appid", appid), ("path", path), ("query", query), ("env_version", "release"))
    )


def _render(code: str):
    session = get_session()
    result = verify(session, code)
    title, message = TEXT[result.verdict]
    brand = catalog().brand(session, result.batch.brand_id) if result.batch else None  # refreshed by verify
    config = current_app.config
    live = result.verdict in LIVE
    html = render_template(
        "landing.html",
        verdict=result.verdict,
        title=title,
        message=message,
        product=result.product,
        brand=brand,
        batch=result.batch if live else None,
        scan_count=result.scan_count,
        first_scanned_at=result.code.first_scan_at if result.code else None,
        warning=latest_warning(session, result, config["REPEAT_SCAN_WARNING"], utcnow()),
        miniapp=miniapp_link(config["MINIAPP_APPID"], config["MINIAPP_PATH"], code=code) if live else None,
        code=code,
    )
    return html, STATUS[result.verdict], {"Cache-Control": "no-store"}


@bp.get("/c/<token>")
def short_landing(token):
    return _render(token)


@bp.get("/01/<gtin>/10/<lot>/21/<serial>")
def gs1_landing(gtin, lot, serial):
    # The code as printed: our base, the path's fields, and `s` as sent (a resolver client may add
    # other query parameters such as linkType; they are not part of the code).
    raw = request.query_string.decode("latin-1")
    sig = next((part[2:] for part in raw.split("&") if part.startswith("s=")), "")
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return _render(f"{base}/01/{gtin}/10/{lot}/21/{serial}?s={sig}")
