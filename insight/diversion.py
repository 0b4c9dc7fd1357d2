"""Scan-cluster diversion detection (窜货), a job: several distinct consumers scanning items of one batch
close together, in a short time, in a region outside the batch's assigned regions.

Each run reads the scans committed since the last (the `diversion` watermark, settled as the rollups'
are). A live scan with a place, whose region is outside its batch's regions, is *odd*. For each odd
scan the job looks back over the batch's odd scans in the same region within the brand's window
(`window_minutes`) and radius (`radius_m`) of it; when they come from at least `min_consumers`
distinct consumers, that is a cluster. One odd scan is never an alert.

A cluster is keyed by its batch, region and first scan: the first time it reaches the threshold it
raises one alert (storefront.diversion, which owns the table); while later odd scans of the batch
in that region fall within the window of the alert's last scan, they are the same cluster and only
extend its evidence, so the same cluster never alerts twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from codes.models import LIVE, Batch, Code, Scan
from db import utcnow
from identity.regions import covered_by_any, distance_m
from insight.models import ClusterRule
from insight.rollups import watermark
from storefront import diversion

DEFAULTS = {"radius_m": 5_000, "window_minutes": 24 * 60, "min_consumers": 3}
MAX_EVIDENCE_CODES = 50


def rule_of(session: Session, brand_id: str) -> dict:
    row = session.get(ClusterRule, brand_id)
    if row is None:
        return dict(DEFAULTS)
    return {"radius_m": row.radius_m, "window_minutes": row.window_minutes, "min_consumers": row.min_consumers}


def set_rule(session: Session, brand_id: str, radius_m: int, window_minutes: int, min_consumers: int) -> dict:
    """The brand's thresholds from now on; commits."""
    row = session.get(ClusterRule, brand_id)
    if row is None:
        row = ClusterRule(brand_id=brand_id)
        session.add(row)
    row.radius_m, row.window_minutes, row.min_consumers = radius_m, window_minutes, min_consumers
    row.updated_at = utcnow()
    session.commit()
    return rule_of(session, brand_id)


def _odd_scans_since(session: Session, lo: int, hi: int) -> list:
    query = (
        select(Scan, Batch)
        .join(Batch, Batch.id == Scan.batch_id)
        .where(
            Scan.id > lo,
            Scan.id <= hi,
            Scan.verdict.in_([str(v) for v in LIVE]),
            Scan.lat.is_not(None),
            Scan.region_code.is_not(None),
            Scan.consumer_id.is_not(None),
        )
        .order_by(Scan.id)
    )
    return [(s, b) for s, b in session.execute(query) if not covered_by_any(b.region_codes, s.region_code)]


def _neighbours(session: Session, scan: Scan, batch: Batch, rule: dict) -> list[Scan]:
    """The batch's odd scans in the scan's region, within the window before it and the radius around it."""
    since = scan.at - timedelta(minutes=rule["window_minutes"])
    rows = session.scalars(
        select(Scan)
        .where(
            Scan.brand_id == batch.brand_id,
            Scan.batch_id == batch.id,
            Scan.region_code == scan.region_code,
            Scan.at >= since,
            Scan.id <= scan.id,
            Scan.verdict.in_([str(v) for v in LIVE]),
            Scan.lat.is_not(None),
            Scan.consumer_id.is_not(None),
        )
        .order_by(Scan.id)
    )
    return [s for s in rows if distance_m(scan.lat, scan.lng, s.lat, s.lng) <= rule["radius_m"]]


def _evidence(session: Session, scans: list[Scan], rule: dict, batch: Batch) -> dict:
    serials = sorted({s.serial for s in scans})
    parents = session.scalars(
        select(Code.parent_serial).where(Code.serial.in_(serials[:MAX_EVIDENCE_CODES]), Code.parent_serial.is_not(None))
    ).all()
    times = [s.at for s in scans]
    return {
        "codes": serials[:MAX_EVIDENCE_CODES],
        "scans": len(scans),
        "consumers": len({s.consumer_id for s in scans}),
        "case": min(parents) if parents else None,
        "cases": sorted(set(parents)),
        "product_id": batch.product_id,
        "first_at": _iso(min(times)),
        "last_at": _iso(max(times)),
        "center": {
            "lat": round(sum(s.lat for s in scans) / len(scans), 6),
            "lng": round(sum(s.lng for s in scans) / len(scans), 6),
        },
        "radius_m": rule["radius_m"],
        "window_minutes": rule["window_minutes"],
        "min_consumers": rule["min_consumers"],
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"


def _same_cluster(session: Session, batch: Batch, scan: Scan, rule: dict):
    """The alert of a cluster this scan continues: the batch's cluster in that region whose last scan is
    within the window before this one."""
    for alert in diversion.open_clusters(session, batch.id, scan.region_code):
        last = datetime.fromisoformat((alert.evidence or {}).get("last_at", "1970-01-01T00:00:00Z").rstrip("Z"))
        if scan.at - last <= timedelta(minutes=rule["window_minutes"]):
            return alert
    return None


def detect(session: Session, settle_seconds: int) -> dict:
    """Look at the scans committed since the last run; raise an alert for each new cluster; commits."""
    now = utcnow()
    mark = watermark(session, "diversion")
    newest = session.scalar(text("SELECT max(id) FROM scans")) or 0
    if settle_seconds > 0:
        ready = (
            mark.pending
            if mark.pending is not None and mark.pending_at <= now - timedelta(seconds=settle_seconds)
            else None
        )
        take = ready
    else:
        take = newest
    raised = extended = 0
    if take is not None and take > mark.position:
        rules: dict[str, dict] = {}
        for scan, batch in _odd_scans_since(session, mark.position, take):
            rule = rules.setdefault(batch.brand_id, rule_of(session, batch.brand_id))
            known = _same_cluster(session, batch, scan, rule)
            near = _neighbours(session, scan, batch, rule)
            if known is not None:
                previous = set((known.evidence or {}).get("codes", []))
                cluster = [s for s in near if s.id >= (known.evidence or {}).get("anchor", 0)]
                evidence = _evidence(session, cluster, rule, batch) | {"anchor": known.evidence.get("anchor")}
                if set(evidence["codes"]) != previous or evidence["scans"] != known.evidence.get("scans"):
                    diversion.update_evidence(session, known.cluster_key, evidence)
                    extended += 1
                continue
            if len({s.consumer_id for s in near}) < rule["min_consumers"]:
                continue
            anchor = near[0]
            evidence = _evidence(session, near, rule, batch) | {"anchor": anchor.id}
            created = diversion.raise_scan_cluster(
                session,
                cluster_key=f"{batch.id}:{scan.region_code}:{anchor.id}",
                brand_id=batch.brand_id,
                serial=anchor.serial,
                batch_id=batch.id,
                expected_regions=list(batch.region_codes or []),
                seen_region=scan.region_code,
                distributor=batch.distributor,
                at=scan.at,
                evidence=evidence,
            )
            raised += int(created)
        mark.position = take
    if settle_seconds > 0 and (mark.pending is None or mark.pending <= mark.position):
        mark.pending, mark.pending_at = (newest, now) if newest > mark.position else (None, None)
    mark.ran_at = now
    session.commit()
    return {"raised": raised, "extended": extended, "to": mark.position}
