"""A scan's response body (loyalty.schemas.ScanOut's shape, written without the schema's dump: the
scans view sends it as it is), with its counterfeit warnings."""

from __future__ import annotations

from sqlalchemy.orm import Session

from codes.catalog import catalog
from codes.models import LIVE, Verdict
from codes.verify import counterfeit_warning
from db import isoformat, utcnow
from loyalty.coupons import describe
from loyalty.scanning.request import ScanState

_TIMESTAMPS = ("issued_at", "expires_at", "redeemed_at")


def response(session: Session, s: ScanState) -> dict:
    found, outcome = s.found, s.outcome
    product = found.product if found.verdict in LIVE or found.verdict in (Verdict.INACTIVE, Verdict.VOIDED) else None
    brand = catalog().brand(session, product.brand_id) if product else None
    body = {
        "verdict": outcome.verdict,
        "scan_count": outcome.scan_count,
        "first_scanned_at": isoformat(outcome.first_scan_at),
        "first_scan_place": _coarse(outcome.first_scan_lat, outcome.first_scan_lng),
        "product": {"id": product.id, "name": product.name, "brand_id": brand.id, "brand_name": brand.name}
        if product
        else None,
        "store": {"id": s.bound_store.id, "name": s.bound_store.name} if s.bound_store else None,
        "rewards": [_reward(c) for c in s.rewards],
        "warning": _warning(outcome, s.request.lat, s.request.lng, s.request.settings.repeat_warning),
    }
    if s.blacklisted:
        body["notice"] = "Rewards are not available for this account."
    return body


def _reward(coupon) -> dict:
    """coupons.describe, its timestamps written as schemas.UtcDateTime writes them."""
    body = describe(coupon)
    for name in _TIMESTAMPS:
        body[name] = isoformat(body[name])
    return body


def _coarse(lat, lng):
    return None if lat is None or lng is None else {"lat": round(lat, 2), "lng": round(lng, 2)}


def _warning(outcome, lat, lng, threshold: int) -> dict | None:
    """Counterfeit hints for a repeat scan (codes.verify.counterfeit_warning), with an English message."""
    found = counterfeit_warning(
        outcome.verdict,
        outcome.scan_count,
        threshold,
        outcome.first_scan_at,
        outcome.first_scan_lat,
        outcome.first_scan_lng,
        lat,
        lng,
        utcnow(),
    )
    if found is None:
        return None
    if found.code == "many_scans":
        return {
            "code": found.code,
            "message": f"This code has been scanned {found.count} times; "
            "a genuine label is rarely scanned this often. It may be copied.",
        }
    return {
        "code": found.code,
        "message": f"This code was first scanned {found.km} km away less than two days ago. The label may be copied.",
    }
