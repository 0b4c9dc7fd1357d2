"""What bench.scan prints along the way, and its checks of the database after the run."""

from __future__ import annotations

import os

from bench.scan.load import LoadResult
from bench.scan.seed import Seed


def describe(name: str, r: LoadResult) -> str:
    return (
        f"{name}: {r.ok:,} x 200 of {r.requests:,} in {r.seconds:.1f} s = {r.ok_per_s:,.0f}/s, "
        f"p50 {r.p50_ms:.1f} ms, p90 {r.p90_ms:.1f} ms, p99 {r.p99_ms:.1f} ms, max {r.max_ms:.1f} ms, "
        f"statuses {r.statuses}" + (f", errors {r.errors}" if any(r.errors.values()) else "")
    )


def cpu_line(name: str, r: LoadResult) -> str:
    c = r.cpu
    if not c or not r.requests:
        return ""
    per = {k: round(v * 1000 / r.requests, 3) for k, v in c.items()}
    return f"{name} CPU ms per request: {per} (run {r.seconds:.1f} s, {os.cpu_count()} cores)"


def check(url: str, seed_: Seed) -> dict:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:

        def q(sql, **kw):
            return conn.execute(text(sql), kw).scalar()

        dup_coupons = q(
            "SELECT count(*) FROM (SELECT campaign_id, serial FROM coupons WHERE serial IS NOT NULL "
            "GROUP BY campaign_id, serial HAVING count(*) > 1) d"
        )
        dup_claims = q(
            "SELECT count(*) FROM (SELECT serial FROM scans WHERE claimed GROUP BY serial HAVING count(*) > 1) d"
        )
        coupon_other_consumer = q(
            "SELECT count(*) FROM coupons c JOIN codes k ON k.serial = c.serial WHERE c.consumer_id <> k.claimed_by"
        )
        scans = q("SELECT count(*) FROM scans")
        not_first = q("SELECT count(*) FROM scans WHERE verdict <> 'genuine' OR NOT claimed")
        claimed_codes = q("SELECT count(*) FROM codes WHERE claimed_by IS NOT NULL")
        coupons = q("SELECT count(*) FROM coupons WHERE campaign_id = :c", c=seed_.campaign_id)
        coupon_fen = q("SELECT coalesce(sum(budget_fen), 0) FROM coupons WHERE campaign_id = :c", c=seed_.campaign_id)
        kinds = dict(conn.execute(text("SELECT kind, count(*) FROM coupons GROUP BY kind")).all())
        issued, committed = conn.execute(
            text("SELECT issued, committed_fen FROM campaigns WHERE id = :c"), {"c": seed_.campaign_id}
        ).one()
    engine.dispose()
    return {
        "double_rewards": dup_coupons + dup_claims + coupon_other_consumer,
        "dup_coupons": dup_coupons,
        "dup_claims": dup_claims,
        "coupon_not_claimer": coupon_other_consumer,
        "scan_rows": scans,
        "not_first_scans": not_first,
        "claimed_codes": claimed_codes,
        "coupons": coupons,
        "coupon_kinds": kinds,
        "campaign_issued": issued,
        "campaign_committed_fen": committed,
        "coupon_budget_fen": coupon_fen,
        "counters_match": issued == coupons and committed == coupon_fen and claimed_codes == scans,
    }
