"""GET /brand: the brand's dashboard (KPI cards, charts, campaigns, the store ranking, diversion
alerts to triage), for a marketing manager on a phone or a laptop.

Sign-in works as the store page's (storefront/ledger/pages.py): the brand pastes a brand key into a
POST form, the page keeps only that key's id in Flask's signed session cookie, and every request
checks the key is still active, so revoking it signs the page out. Every form carries the session's
CSRF token; POSTs redirect (303) back to /brand. The page's figures are rendered into a JSON script
tag (type="application/json", not executed) that static/brand-dashboard.js reads to draw the charts
with the ECharts build in static/ (pinned, our own files): no inline script, no CDN, so the app's
page CSP (script-src 'self') holds. Triage buttons call the same service as the API's triage.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from db import get_session
from errors import DomainError, translated
from identity.auth import brand_for_key, brand_for_key_id
from identity.models import Brand
from insight import stats
from storefront import diversion
from storefront.models import AlertStatus

bp = Blueprint(
    "brand_page",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/brand/static",
)

ECHARTS = "echarts-5.5.1.min.js"
HEADERS = {"Cache-Control": "no-store"}  # the app's page CSP (security.py: script-src 'self') applies
TOP_STORES = 10
CAMPAIGNS = 10
ALERTS = 20
MAX_ALERT_ID = 2**63 - 1

# Provinces by the first two digits of a GB/T 2260 code: scans by region are shown per province.
PROVINCES = {
    "11": ("北京", "Beijing"),
    "12": ("天津", "Tianjin"),
    "13": ("河北", "Hebei"),
    "14": ("山西", "Shanxi"),
    "15": ("内蒙古", "Inner Mongolia"),
    "21": ("辽宁", "Liaoning"),
    "22": ("吉林", "Jilin"),
    "23": ("黑龙江", "Heilongjiang"),
    "31": ("上海", "Shanghai"),
    "32": ("江苏", "Jiangsu"),
    "33": ("浙江", "Zhejiang"),
    "34": ("安徽", "Anhui"),
    "35": ("福建", "Fujian"),
    "36": ("江西", "Jiangxi"),
    "37": ("山东", "Shandong"),
    "41": ("河南", "Henan"),
    "42": ("湖北", "Hubei"),
    "43": ("湖南", "Hunan"),
    "44": ("广东", "Guangdong"),
    "45": ("广西", "Guangxi"),
    "46": ("海南", "Hainan"),
    "50": ("重庆", "Chongqing"),
    "51": ("四川", "Sichuan"),
    "52": ("贵州", "Guizhou"),
    "53": ("云南", "Yunnan"),
    "54": ("西藏", "Tibet"),
    "61": ("陕西", "Shaanxi"),
    "62": ("甘肃", "Gansu"),
    "63": ("青海", "Qinghai"),
    "64": ("宁夏", "Ningxia"),
    "65": ("新疆", "Xinjiang"),
    "71": ("台湾", "Taiwan"),
    "81": ("香港", "Hong Kong"),
    "82": ("澳门", "Macao"),
}
ALERT_STATUS_LABELS = {
    AlertStatus.OPEN: _l("Open"),
    AlertStatus.ACKNOWLEDGED: _l("Acknowledged"),
    AlertStatus.CONFIRMED: _l("Confirmed"),
    AlertStatus.DISMISSED: _l("Dismissed"),
}
TRIAGED = {
    AlertStatus.ACKNOWLEDGED: _l("Alert acknowledged."),
    AlertStatus.CONFIRMED: _l("Diversion confirmed."),
    AlertStatus.DISMISSED: _l("Alert dismissed."),
}


def province_of(region_code: str, english: bool) -> str:
    names = PROVINCES.get((region_code or "")[:2])
    if names is None:
        return _("Unknown") if not region_code else region_code
    return names[1] if english else names[0]


def percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def _csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _csrf_ok() -> bool:
    """A POST without this session's token (another site's form, a stale tab) does nothing."""
    sent, expected = request.form.get("csrf", ""), session.get("csrf", "")
    if expected and hmac.compare_digest(sent.encode(), expected.encode()):
        return True
    flash(_("The form expired; please try again."), "error")
    return False


def _lang() -> str | None:
    lang = request.args.get("lang", "")
    return lang if lang in ("en", "zh") else None


def _back():
    return redirect(url_for("brand_page.brand_page", lang=_lang()), 303)


def _signed_in_brand() -> Brand | None:
    """The brand of the key this page signed in with, while the key is active; else signed out. The
    store page shares the session cookie: its key id is kept under another name."""
    key_id = session.get("brand_key_id")
    found = brand_for_key_id(key_id) if isinstance(key_id, str) else None
    if found is None:
        session.pop("brand_key_id", None)
        return None
    return found.owner


def _page(template: str, status: int = 200, **context):
    return render_template(template, csrf=_csrf_token(), lang=_lang(), echarts=ECHARTS, **context), status, HEADERS


def dashboard(db_session, brand_id: str, english: bool) -> dict:
    """Everything the page shows, from the insight services (the 30 days up to today in Shanghai)."""
    by_day = stats.brand_stats(db_session, brand_id)
    by_region = stats.brand_stats(db_session, brand_id, by_day["from"], by_day["to"], group_by="region")
    provinces: dict[str, int] = {}
    for row in by_region["series"]:
        if row["scans"]:
            name = province_of(row["key"], english)
            provinces[name] = provinces.get(name, 0) + row["scans"]
    regions = sorted(provinces.items(), key=lambda item: (-item[1], item[0]))
    first, last = by_day["from"], by_day["to"]
    ranking, _next = stats.store_ranking(db_session, brand_id, first, last, "sell_through", TOP_STORES, 0)
    campaigns = stats.brand_campaigns(db_session, brand_id, CAMPAIGNS)
    alerts = []
    for status in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED):
        found, _cursor = diversion.alerts(db_session, brand_id, status, ALERTS, None)
        for described in map(diversion.describe, found):
            described["seen_name"] = province_of(described["seen_region"], english)
            described["expected_names"] = ", ".join(province_of(r, english) for r in described["expected_regions"])
            alerts.append(described)
    alerts.sort(key=lambda a: a["id"], reverse=True)
    days = [date.fromisoformat(r["key"]).strftime("%m-%d") for r in by_day["series"]]
    charts = {
        "daily": {
            "kind": "line",
            "labels": days,
            "series": [
                {"name": _("Scans"), "data": [r["scans"] for r in by_day["series"]]},
                {"name": _("First scans"), "data": [r["first_scans"] for r in by_day["series"]]},
                {"name": _("Unique consumers"), "data": [r["unique_consumers"] for r in by_day["series"]]},
            ],
        },
        "regions": {
            "kind": "bar",
            "horizontal": True,
            "labels": [name for name, _n in regions],
            "series": [{"name": _("Scans"), "data": [n for _name, n in regions]}],
        },
        "coupons": {
            "kind": "bar",
            "labels": days,
            "series": [
                {"name": _("Coupons issued"), "data": [r["coupons_issued"] for r in by_day["series"]]},
                {"name": _("Coupons redeemed"), "data": [r["coupons_redeemed"] for r in by_day["series"]]},
            ],
        },
        "stores": {
            "kind": "bar",
            "horizontal": True,
            "labels": [s["name"] for s in ranking],
            "series": [
                {"name": _("Sell-through"), "data": [s["sell_through"] for s in ranking]},
                {"name": _("Redemptions"), "data": [s["redemptions"] for s in ranking]},
            ],
        },
        "campaigns": {
            "kind": "bar",
            "money": True,
            "labels": [c["name"] for c in campaigns],
            "series": [
                {"name": _("Cost"), "data": [c["cost_fen"] / 100 for c in campaigns]},
                {"name": _("Attributed revenue"), "data": [c["attributed_revenue_fen"] / 100 for c in campaigns]},
            ],
        },
    }
    return {
        "window": (by_day["from"], by_day["to"]),
        "totals": by_day["totals"],
        "charts": charts,
        "ranking": ranking,
        "campaigns": campaigns,
        "alerts": alerts,
    }


@bp.get("/brand")
def brand_page():
    brand = _signed_in_brand()
    if brand is None:
        return _page("brand_login.html")
    english = str(get_locale()) == "en"
    return _page(
        "brand_page.html",
        brand=brand,
        percent=percent,
        province_of=lambda code: province_of(code, english),
        alert_status=lambda s: ALERT_STATUS_LABELS.get(s, s),
        **dashboard(get_session(), brand.id, english),
    )


@bp.post("/brand/login")
def brand_login():
    if not _csrf_ok():
        return _back()
    found = brand_for_key((request.form.get("key") or "").strip())
    if found is None:
        return _page("brand_login.html", 401, error=_("That brand key is not valid."))
    session.clear()
    session.permanent = True
    session["brand_key_id"] = found.key_id
    session["csrf"] = secrets.token_urlsafe(24)  # a fresh token after sign-in
    return _back()


@bp.post("/brand/logout")
def brand_logout():
    if _csrf_ok():
        session.clear()
    return _back()


@bp.post("/brand/alerts/<alert_id>/<any(acknowledged, confirmed, dismissed):status>")
def brand_triage(alert_id, status):
    """Acknowledge, confirm or dismiss a diversion alert, with an optional note (as the API's triage)."""
    brand = _signed_in_brand()
    if brand is None or not _csrf_ok():
        return _back()
    if not alert_id.isdigit() or int(alert_id) > MAX_ALERT_ID:
        flash(_("No such diversion alert."), "error")
        return _back()
    note = (request.form.get("note") or "").strip()[:500] or None
    try:
        diversion.triage(get_session(), brand.id, int(alert_id), status, note)
    except diversion.AlertSettled:
        flash(_("This alert can no longer move that way: it was triaged already."), "error")
        return _back()
    except DomainError as exc:
        flash(translated(exc.message), "error")
        return _back()
    flash(str(TRIAGED[AlertStatus(status)]), "ok")
    return _back()
