"""A scan batch that fails as a whole is retried scan by scan: each scan still counts once
against the throttle, and each gets its own answer."""

from __future__ import annotations

from codes.catalog import catalog
from db import session_scope, utcnow
from loyalty.scanning import batch as scan_batch
from loyalty.scanning.groupcommit import GroupCommit, Job
from loyalty.scanning.request import ScanRequest, ScanSettings


def flush_together(app, consumer_id: str, codes: list[str], ip: str) -> list[Job]:
    """One batch of scans through scan_batch._flush, as the group commit runs it; its jobs."""
    settings = ScanSettings.from_config(app.config)
    jobs = [Job(ScanRequest(consumer_id, code, None, None, ip, utcnow(), settings), None) for code in codes]
    with app.app_context():
        with session_scope() as session:  # current, so that no batch is run again for a stale catalog
            catalog().refresh(session)
        GroupCommit(scan_batch._flush)._flush_safely(jobs)
    return jobs


def test_scans_of_a_failed_batch_are_retried_alone_and_throttled_once(api, app, monkeypatch):
    brand = api.brand()
    batch = api.batch(brand, quantity=3)
    codes = [row["url"] for row in api.codes(brand, batch)]
    phone = api.consumer()
    monkeypatch.setitem(app.config, "SCAN_LIMIT_PER_CONSUMER", 3)  # exactly three: counting twice refuses
    real = scan_batch._scan_all
    batch_sizes = []

    def fail_when_grouped(jobs):
        batch_sizes.append(len(jobs))
        if len(jobs) > 1:
            raise RuntimeError("simulated failure of the whole batch")
        return real(jobs)

    monkeypatch.setattr(scan_batch, "_scan_all", fail_when_grouped)
    jobs = flush_together(app, phone.id, codes, "203.0.113.9")
    assert batch_sizes == [3, 1, 1, 1]
    assert [job.error for job in jobs] == [None, None, None]
    assert [job.result["verdict"] for job in jobs] == ["genuine"] * 3


def test_a_scan_over_the_limit_in_a_batch_is_refused_and_leaves_no_trace_while_the_rest_are_claimed(
    api, app, monkeypatch
):
    """The batch's hits are counted one by one: the third scan of a consumer allowed two is refused
    (not the whole batch), and only the admitted scans are verified, recorded and claimed."""
    from sqlalchemy import func, select

    from codes.models import Code, Scan
    from errors import Throttled

    brand = api.brand()
    batch = api.batch(brand, quantity=3)
    rows = api.codes(brand, batch)
    phone = api.consumer()
    monkeypatch.setitem(app.config, "SCAN_LIMIT_PER_CONSUMER", 2)
    real = scan_batch._scan_all
    batch_sizes = []

    def watched(jobs):
        batch_sizes.append(len(jobs))
        return real(jobs)

    monkeypatch.setattr(scan_batch, "_scan_all", watched)
    jobs = flush_together(app, phone.id, [row["url"] for row in rows], "203.0.113.7")
    with app.app_context(), session_scope() as session:
        claimed = set(session.scalars(select(Code.serial).where(Code.claimed_by == phone.id)))
        scans = session.scalar(select(func.count()).select_from(Scan).where(Scan.consumer_id == phone.id))
    assert batch_sizes == [2]
    assert [job.result["verdict"] for job in jobs[:2]] == ["genuine", "genuine"]
    assert isinstance(jobs[2].error, Throttled) and jobs[2].result is None
    assert claimed == {rows[0]["serial"], rows[1]["serial"]} and scans == 2
