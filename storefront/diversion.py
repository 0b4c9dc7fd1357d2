"""Diversion alerts (窜货), the one writer of diversion_alerts besides the receipt that raises its own
(storefront/receipts.py): scan-cluster alerts raised by insight's detection job, the brand's triage,
and the brand's list.

A scan-cluster alert is keyed by its cluster (`cluster_key`, unique), so the same cluster never alerts
twice however often, or however concurrently, the detection job runs; a cluster that grows while
its alert is open only has its evidence updated."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import insert_ignore, utcnow
from errors import Conflict, NotFound
from pagination import keyset_page
from storefront.models import AlertKind, AlertStatus, DiversionAlert

# Where triage may go from each status (confirmed and dismissed are final).
NEXT = {
    AlertStatus.OPEN: {AlertStatus.ACKNOWLEDGED, AlertStatus.CONFIRMED, AlertStatus.DISMISSED},
    AlertStatus.ACKNOWLEDGED: {AlertStatus.CONFIRMED, AlertStatus.DISMISSED},
}


class AlertSettled(Conflict):
    code = "alert_settled"


def raise_scan_cluster(
    session: Session,
    *,
    cluster_key: str,
    brand_id: str,
    serial: int,
    batch_id: str,
    expected_regions: list[str],
    seen_region: str,
    distributor: str | None,
    at,
    evidence: dict,
) -> bool:
    """Record a scan cluster's alert once (no commit); whether this call created it."""
    before = session.scalar(select(DiversionAlert.id).where(DiversionAlert.cluster_key == cluster_key))
    if before is not None:
        return False
    insert_ignore(
        session,
        DiversionAlert.__table__,
        [
            {
                "brand_id": brand_id,
                "kind": AlertKind.SCAN_CLUSTER,
                "serial": serial,
                "batch_id": batch_id,
                "store_id": None,
                "expected_regions": expected_regions,
                "seen_region": seen_region,
                "distributor": distributor,
                "at": at,
                "status": AlertStatus.OPEN,
                "evidence": evidence,
                "cluster_key": cluster_key,
            }
        ],
        ["cluster_key"],
    )
    return True


def update_evidence(session: Session, cluster_key: str, evidence: dict) -> None:
    """A known cluster grew: its alert shows the new evidence (no commit)."""
    alert = session.scalar(select(DiversionAlert).where(DiversionAlert.cluster_key == cluster_key))
    if alert is not None:
        alert.evidence = evidence


def open_clusters(session: Session, batch_id: str, seen_region: str) -> list[DiversionAlert]:
    """The batch's scan-cluster alerts in that region, newest first."""
    return list(
        session.scalars(
            select(DiversionAlert)
            .where(
                DiversionAlert.batch_id == batch_id,
                DiversionAlert.kind == AlertKind.SCAN_CLUSTER,
                DiversionAlert.seen_region == seen_region,
            )
            .order_by(DiversionAlert.id.desc())
        )
    )


def triage(session: Session, brand_id: str, alert_id: int, status: str, note: str | None) -> DiversionAlert:
    """Move one of the brand's alerts on (open -> acknowledged -> confirmed | dismissed), with a note;
    commits. 404 for another brand's alert, 409 for a move its status does not allow."""
    alert = session.scalar(select(DiversionAlert).where(DiversionAlert.id == alert_id).with_for_update())
    if alert is None or alert.brand_id != brand_id:
        raise NotFound("No such diversion alert.")
    current = AlertStatus(alert.status or AlertStatus.OPEN)
    if status not in NEXT.get(current, set()):
        raise AlertSettled(f"An alert that is {current} cannot become {status}.", fields={"status": [current.value]})
    alert.status = status
    alert.triaged_at = utcnow()
    if note is not None:
        alert.note = note
    session.commit()
    return alert


def alerts(session: Session, brand_id: str, status: str | None, limit: int, cursor: str | None):
    """The brand's diversion alerts (of one status, if given), newest first: (alerts, next_cursor)."""
    query = select(DiversionAlert).where(DiversionAlert.brand_id == brand_id)
    if status is not None:
        query = query.where(DiversionAlert.status == status)
    return keyset_page(session, query, [DiversionAlert.id], limit, cursor)


def describe(alert: DiversionAlert) -> dict:
    """An alert as the brand reads it: a receipt alert's evidence is its case and store."""
    evidence = alert.evidence
    if evidence is None:
        evidence = {"case_serial": alert.serial, "store_id": alert.store_id, "received_at": alert.at}
    return {
        "id": alert.id,
        "kind": alert.kind,
        "status": alert.status or AlertStatus.OPEN,
        "serial": alert.serial,
        "case": alert.serial if alert.kind == AlertKind.RECEIPT else evidence.get("case"),
        "batch_id": alert.batch_id,
        "store_id": alert.store_id,
        "distributor": alert.distributor,
        "expected_regions": alert.expected_regions or [],
        "seen_region": alert.seen_region,
        "evidence": evidence,
        "note": alert.note,
        "at": alert.at,
        "created_at": alert.at,
        "triaged_at": alert.triaged_at,
    }
