"""Public landing page for phone-camera scans: answers like a GS1 resolver, claims nothing."""

from flask import Blueprint, current_app, render_template, request

from codes.verify import verify
from db import get_session, isoformat
from identity.models import Brand

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
    "genuine": ("Genuine product", "This code is authentic and has not been scanned before."),
    "genuine_repeat": ("Genuine code, scanned before", "This code is authentic but has already been scanned."),
    "forged": ("Not a valid code", "We could not verify this code. The product may be counterfeit."),
    "unknown": ("Unknown code", "This code is not registered with any brand we serve."),
    "inactive": ("Not yet released", "This code has not been activated; the item should not be on sale yet."),
    "voided": ("Code withdrawn", "The brand has withdrawn this code (recall or damaged label)."),
    "revoked_key": ("Code no longer valid", "The brand has revoked the key this code was signed with."),
}


def _render(code: str):
    session = get_session()
    result = verify(session, code)
    title, message = TEXT[result.verdict]
    brand = session.get(Brand, result.batch.brand_id) if result.batch else None
    first = result.code.first_scan_at if result.code else None
    html = render_template(
        "landing.html",
        verdict=result.verdict,
        title=title,
        message=message,
        product=result.product,
        brand=brand,
        batch=result.batch if result.verdict in ("genuine", "genuine_repeat") else None,
        scan_count=result.scan_count,
        first_scanned_at=isoformat(first),
        warn=result.verdict == "genuine_repeat" and result.scan_count >= current_app.config["REPEAT_SCAN_WARNING"],
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
