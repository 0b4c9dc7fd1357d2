"""Verification: what a code string is, and the verdict a scan or the landing page shows.

Verdicts (API.md): genuine, genuine_repeat, forged, unknown, inactive, voided, revoked_key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from codes import keys, tokens
from codes.catalog import Snapshot, catalog
from codes.models import Batch, Code, CodeFormat, Product, Scan, Verdict
from errors import Forbidden, NotFound
from identity.regions import distance_m

FAR_APART_M = 100_000
FAR_APART_WINDOW = timedelta(hours=48)


@dataclass
class Verification:
    verdict: str
    parsed: tokens.ParsedCode | None = None
    batch: Snapshot | None = None  # read-only copies (codes/catalog.py)
    product: Snapshot | None = None
    code: Code | None = None

    @property
    def serial(self) -> int | None:
        return self.parsed.serial if self.parsed else None

    @property
    def scan_count(self) -> int:
        return self.code.scan_count if self.code else 0


def our_origins() -> tokens.Origins:
    """Where our codes' URLs may point: PUBLIC_BASE_URL's host, and GS1's resolver for GS1 URIs."""
    return tokens.origins_for(current_app.config["PUBLIC_BASE_URL"])


def verify(
    session: Session,
    code: str,
    *,
    refresh: bool = True,
    load_code: bool = True,
    origins: tokens.Origins | None = None,
) -> Verification:
    """The verdict for a code string. Reads through the process's catalog (refreshed first unless the
    caller already did in this transaction); the code's own row is read unless load_code is False
    (the scan path claims and counts it in one statement instead, and sets the verdict from that).
    A code not in its one canonical form, or a URL on a host not ours (`origins`, by default
    our_origins()), is forged: a string prefix check, no database."""
    try:
        parsed = tokens.parse(code, origins or our_origins())
    except tokens.Malformed:
        return Verification(Verdict.FORGED)
    found = keys.secret_for(session, parsed.key_id)
    if found is None or not tokens.mac_ok(found[1], parsed):
        return Verification(Verdict.FORGED)
    cached = catalog()
    if refresh:
        cached.refresh(session)
    batch = cached.batch_for_serial(session, parsed.serial)
    if batch is not None and (batch.key_id != parsed.key_id or batch.format != parsed.form):
        return Verification(Verdict.FORGED)
    product = cached.product(session, batch.product_id) if batch else None
    if parsed.form == "gs1" and batch is not None and (product.gtin != parsed.gtin or batch.lot != parsed.lot):
        return Verification(Verdict.FORGED)
    result = Verification(Verdict.UNKNOWN, parsed, batch, product)
    if cached.key_revoked(session, parsed.key_id):
        result.verdict = Verdict.REVOKED_KEY
        if load_code and batch is not None:  # its history (case, store, scans) outlives the key
            result.code = session.get(Code, parsed.serial)
        return result
    if batch is None:
        return result
    activated, voided = cached.range_state(session, batch.id, parsed.serial)
    if load_code or voided or not activated:
        result.code = session.get(Code, parsed.serial)
    if voided:
        result.verdict = Verdict.VOIDED
    elif not activated:
        result.verdict = Verdict.INACTIVE
    else:
        result.verdict = Verdict.GENUINE_REPEAT if result.scan_count > 0 else Verdict.GENUINE
    return result


def own_code(session: Session, brand_id: str, code: str, field: str = "code") -> Verification:
    """A code of this brand's (in any lifecycle state) for brand endpoints; 404/403 otherwise."""
    result = verify(session, code)
    if result.batch is None:
        raise NotFound("No such code.", fields={field: ["Not a valid code of any batch."]})
    if result.batch.brand_id != brand_id:
        raise Forbidden("This code belongs to another brand.", fields={field: ["Not your code."]})
    return result


def gs1_fields(session: Session, batch: Batch) -> tuple[str, str] | None:
    return (session.get(Product, batch.product_id).gtin, batch.lot) if batch.format == CodeFormat.GS1 else None


def code_url(session: Session, base_url: str, batch: Batch, serial: int) -> str:
    """The printed URL of one code (short or GS1 form)."""
    _, secret = keys.secret_for(session, batch.key_id)
    return tokens.code_url(base_url, secret, batch.key_id, serial, gs1_fields(session, batch))


@dataclass(frozen=True)
class ScanWarning:
    """A counterfeit hint for a repeat scan: `many_scans` (count) or `far_apart` (km from the first scan)."""

    code: str
    count: int = 0
    km: int = 0


def counterfeit_warning(
    verdict: str,
    scan_count: int,
    threshold: int,
    first_at: datetime | None,
    first_lat: float | None,
    first_lng: float | None,
    lat: float | None,
    lng: float | None,
    now: datetime,
) -> ScanWarning | None:
    """Scanned `threshold` times or more, or scanned (at lat, lng) more than FAR_APART_M from where it
    was first scanned, within FAR_APART_WINDOW of that first scan. Only a repeat scan gets a warning."""
    if verdict != Verdict.GENUINE_REPEAT:
        return None
    if scan_count >= threshold:
        return ScanWarning("many_scans", count=scan_count)
    if None not in (lat, lng, first_lat, first_lng) and first_at is not None:
        apart = distance_m(lat, lng, first_lat, first_lng)
        if apart > FAR_APART_M and now - first_at < FAR_APART_WINDOW:
            return ScanWarning("far_apart", count=scan_count, km=round(apart / 1000))
    return None


def latest_warning(session: Session, result: Verification, threshold: int, now: datetime) -> ScanWarning | None:
    """The warning the code's latest located scan got (what POST /scans answered it), for a page that
    has no location of its own: the code's row and its last scan with a place."""
    code = result.code
    if code is None:
        return None
    last = None
    if code.first_scan_lat is not None and result.scan_count < threshold:
        last = session.execute(
            select(Scan.lat, Scan.lng, Scan.at)
            .where(Scan.serial == code.serial, Scan.lat.is_not(None), Scan.lng.is_not(None))
            .order_by(Scan.id.desc())
            .limit(1)
        ).first()
    return counterfeit_warning(
        result.verdict,
        result.scan_count,
        threshold,
        code.first_scan_at,
        code.first_scan_lat,
        code.first_scan_lng,
        last.lat if last else None,
        last.lng if last else None,
        last.at if last else now,
    )
