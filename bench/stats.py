"""Brand statistics over 10,000,000 scans: the service (rollups) against the raw rows, same figures.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/test python -m bench.stats [--scans N]

Seeds a scratch database beside DATABASE_URL's by SQL (generate_series, not through the API): one
brand, 20 products and batches, 200,000 consumers who scan a case's 12 items at a time, one scan in
ten a repeat, a coupon for one first scan in ten (one in three of those redeemed), spread over the
30 days before today (Shanghai). The rollup jobs take the scans up as the sweep would, then the
brand's statistics for those 30 days (totals and the day series, as GET /brand/stats answers) are
computed once by the service and once from the raw rows. The last line is
{"scans", "stats_ms", "raw_ms", "ratio", "equal"}: ratio = raw_ms / stats_ms, equal whether every
figure matches.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta

from sqlalchemy import text

from bench.support import APP_SECRETS, log, postgres_url, scratch_database

BRAND = "br_bench"
CONSUMERS = 200_000
PRODUCTS = 20
CASE = 12  # items a consumer scans in one go

SEED = """
INSERT INTO brands (id, name, created_at) VALUES ('br_bench', 'Bench Dairy', now()), ('br_other', 'Other', now());
INSERT INTO signing_keys (brand_id, ciphertext, nonce, created_at) VALUES ('br_bench', '\\x00', '\\x00', now());
INSERT INTO products (id, brand_id, sku, name, price_fen, cost_fen, created_at)
  SELECT 'pr_' || p, 'br_bench', 'SKU' || p, 'Product ' || p, 1200, 700, now() FROM generate_series(0, :products - 1) p;
INSERT INTO batches (id, brand_id, product_id, kind, format, quantity, serial_from, serial_to, key_id, lot, produced_on,
                     region_codes, created_at)
  SELECT 'ba_' || p, 'br_bench', 'pr_' || p, 'item', 'short', 1000000, 1 + p * 1000000, (p + 1) * 1000000,
         (SELECT min(id) FROM signing_keys), 'L1', current_date, '["310000"]', now()
  FROM generate_series(0, :products - 1) p;
INSERT INTO consumers (id, openid, created_at)
  SELECT 'cs_' || n, 'openid-' || n, now() FROM generate_series(0, :consumers - 1) n;
INSERT INTO campaigns (id, brand_id, type, name, status, starts_at, ends_at, product_ids, region_codes, budget_fen,
                       committed_fen, spent_fen, released_fen, issued, tiers, seed, settings, created_at)
  VALUES ('cm_bench', 'br_bench', 'scan_reward', 'Bench', 'active', :start, :end, '[]', '[]', 0, 0, 0, 0, 0, '[]',
          '\\x00', '{}', now());
"""

# i = 1..N; a session (a consumer opening a case) is 12 consecutive scans of one product on one day.
SCANS = """
INSERT INTO scans (consumer_id, serial, batch_id, brand_id, verdict, claimed, region_code, at)
SELECT 'cs_' || ((s * 7919) % :consumers),
       CASE WHEN i % 10 = 0 THEN i - 1 ELSE i END,
       'ba_' || (s % :products), 'br_bench',
       CASE WHEN i % 10 = 0 THEN 'genuine_repeat' ELSE 'genuine' END,
       i % 10 = 1,
       '31' || lpad((((s * 7919) % :consumers) % 20)::text, 4, '0'),
       :start + ((s * 31) % 30) * interval '1 day' + (s % 86000) * interval '1 second' + (i % 12) * interval '1 second'
FROM (SELECT i, i / 12 AS s FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) i) g
"""

COUPONS = """
INSERT INTO coupons (id, code, consumer_id, brand_id, campaign_id, serial, tier, kind, value_fen, budget_fen,
                     min_spend_fen, product_id, status, issued_at, expires_at, redeemed_at, reimbursed_fen)
SELECT 'cp_' || s.id, 'C' || s.id, s.consumer_id, s.brand_id, 'cm_bench', s.serial, 0, 'brand_coupon', 500, 500, 0,
       NULL, CASE WHEN s.id % 30 = 1 THEN 'redeemed' ELSE 'issued' END, s.at, s.at + interval '30 days',
       CASE WHEN s.id % 30 = 1 THEN s.at + interval '1 hour' END, 0
FROM scans s WHERE s.claimed
"""

RAW = """
WITH w AS (
  SELECT consumer_id, verdict, CAST(at + interval '8 hours' AS date) AS day FROM scans
  WHERE brand_id = :b AND at >= :lo AND at < :hi)
SELECT 'totals', NULL::date, count(*), count(*) FILTER (WHERE verdict = 'genuine'), count(DISTINCT consumer_id)
FROM w
UNION ALL
SELECT 'repeat', NULL, count(*) FILTER (WHERE fd >= 1), count(*) FILTER (WHERE fd >= 2), 0
FROM (SELECT consumer_id, count(DISTINCT day) FILTER (WHERE verdict = 'genuine') AS fd FROM w
      WHERE consumer_id IS NOT NULL GROUP BY consumer_id) t
UNION ALL
SELECT 'day', day, count(*), count(*) FILTER (WHERE verdict = 'genuine'), count(DISTINCT consumer_id)
FROM w GROUP BY day
UNION ALL
SELECT 'issued', CAST(issued_at + interval '8 hours' AS date), count(*), 0, 0 FROM coupons
WHERE brand_id = :b AND issued_at >= :lo AND issued_at < :hi GROUP BY 2
UNION ALL
SELECT 'redeemed', CAST(redeemed_at + interval '8 hours' AS date), count(*), sum(budget_fen), 0 FROM coupons
WHERE brand_id = :b AND status = 'redeemed' AND redeemed_at >= :lo AND redeemed_at < :hi GROUP BY 2
UNION ALL
SELECT 'orders', NULL, count(*), coalesce(sum(amount_fen - refunded_fen), 0), 0 FROM orders
WHERE brand_id = :b AND status IN ('paid', 'refund_requested', 'partially_refunded')
  AND paid_at >= :lo AND paid_at < :hi
UNION ALL
SELECT 'receipts', NULL, count(*), 0, 0 FROM receipts WHERE brand_id = :b AND at >= :lo AND at < :hi
"""

SERIES = ("scans", "first_scans", "unique_consumers", "coupons_issued", "coupons_redeemed", "reward_cost_fen")


def raw_figures(session, first, last) -> dict:
    """The statistics GET /brand/stats answers, from the raw rows."""
    from insight.rollups import day_start

    lo, hi = day_start(first), day_start(last + timedelta(days=1))
    days = {(first + timedelta(days=i)).isoformat(): dict.fromkeys(SERIES, 0) for i in range((last - first).days + 1)}
    totals = {}
    for kind, day, a, b, c in session.execute(text(RAW), {"b": BRAND, "lo": lo, "hi": hi}):
        a, b, c = int(a or 0), int(b or 0), int(c or 0)
        key = day.isoformat() if day else None
        if kind == "totals":
            totals.update(scans=a, first_scans=b, unique_consumers=c)
        elif kind == "repeat":
            totals.update(repeat_consumers=b, repurchase_rate=round(b / a, 4) if a else 0.0)
        elif kind == "day":
            days[key].update(scans=a, first_scans=b, unique_consumers=c)
        elif kind == "issued":
            days[key]["coupons_issued"] = a
        elif kind == "redeemed":
            days[key].update(coupons_redeemed=a, reward_cost_fen=b)
        elif kind == "orders":
            totals.update(orders=a, order_revenue_fen=b)
        else:
            totals["receipts"] = a
    for name in ("coupons_issued", "coupons_redeemed", "reward_cost_fen"):
        totals[name] = sum(d[name] for d in days.values())
    return {"totals": totals, "series": [{"key": k, **v} for k, v in days.items()]}


def seed(engine, scans: int, first) -> None:
    from insight.rollups import day_start

    start = day_start(first)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE scans SET UNLOGGED"))
        conn.execute(text("ALTER TABLE coupons SET UNLOGGED"))
        for statement in SEED.split(";\n"):
            if statement.strip():
                conn.execute(
                    text(statement),
                    {"products": PRODUCTS, "consumers": CONSUMERS, "start": start, "end": start + timedelta(days=60)},
                )
    step = 1_000_000
    for lo in range(1, scans + 1, step):
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL synchronous_commit = off"))
            params = {"lo": lo, "hi": min(lo + step - 1, scans), "consumers": CONSUMERS, "products": PRODUCTS}
            conn.execute(text(SCANS), params | {"start": start})
        log(f"  {min(lo + step - 1, scans):,} scans")
    with engine.begin() as conn:
        conn.execute(text(COUPONS))
        conn.execute(text("ANALYZE"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)
    url = postgres_url("bench.stats")

    from app import create_app
    from db import engine, session_scope
    from insight import rollups, stats
    from migrations import upgrade

    with scratch_database(url, "bench_stats", keep=args.keep) as scratch:
        upgrade(scratch)
        app = create_app({"DATABASE_URL": scratch, **APP_SECRETS, "INSIGHT_SETTLE_SECONDS": 0})
        with app.app_context():
            today = rollups.shanghai_day(__import__("db").utcnow())
            first, last = today - timedelta(days=30), today - timedelta(days=1)
            started = time.perf_counter()
            seed(engine(app), args.scans, first)
            log(f"seeded {args.scans:,} scans in {time.perf_counter() - started:.0f} s")
            started = time.perf_counter()
            with session_scope() as session:
                rollups.roll_scans(session, 0)
            with session_scope() as session:
                rollups.roll_money(session, 0)
            with engine(app).begin() as conn:
                conn.execute(text("ANALYZE"))
            log(f"rollups in {time.perf_counter() - started:.0f} s")
            with session_scope() as session:
                stats.brand_stats(session, BRAND, first, last)  # warm the connection and the cache alike
                started = time.perf_counter()
                served = stats.brand_stats(session, BRAND, first, last)
                stats_ms = (time.perf_counter() - started) * 1000
                raw_figures(session, first, last)
                started = time.perf_counter()
                raw = raw_figures(session, first, last)
                raw_ms = (time.perf_counter() - started) * 1000
            equal = served["totals"] == raw["totals"] and served["series"] == raw["series"]
            if not equal:
                log(f"service: {served['totals']}\nraw:     {raw['totals']}")
            scans = served["totals"]["scans"]
    print(
        json.dumps(
            {
                "scans": scans,
                "stats_ms": round(stats_ms, 1),
                "raw_ms": round(raw_ms, 1),
                "ratio": round(raw_ms / stats_ms, 1),
                "equal": equal,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
