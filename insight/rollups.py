"""The rollup jobs: brand figures per Shanghai day × region × product × store, kept up to date from the
raw rows so that statistics read a few thousand cells instead of millions of scans.

Scans are append-only with increasing ids: `roll_scans` adds each new scan once, reading from the
`scans` watermark. Ids are taken in insert order but transactions commit in their own order, so a
smaller id may still be invisible when a larger one is seen. The job therefore notes the newest id
it sees (`pending`, with the time) and takes up to it only on a run at least `settle_seconds`
later: by then every scan that had an id by that time has committed (a scan's transaction lasts
milliseconds; the default settle is 60 s). The scan hot path is not touched.

Coupons, orders and receipts change after they are written (redeemed, refunded), so `roll_money`
recomputes whole (brand, day)s: every day that a row written or changed since the last run falls
on, from the rows as they are now.

Both are safe to run twice and concurrently (each takes its watermark row FOR UPDATE on
PostgreSQL; SQLite has one writer).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from codes.models import Verdict
from db import is_postgres, utcnow
from insight.models import BLOCK_DAYS, PHASE_SHIFTS, MoneyCell, Watermark
from loyalty.models import CouponStatus
from storefront.models import OrderStatus

SHANGHAI = timedelta(hours=8)  # China Standard Time all year (no daylight saving)
CHUNK = 1_000_000  # scan ids per statement
# Orders that count, on their payment day: paid and not wholly refunded (a refund asked for and not
# yet decided, or a part refunded), with what the consumer kept paying: amount_fen - refunded_fen.
KEPT_ORDERS = (OrderStatus.PAID, OrderStatus.REFUND_REQUESTED, OrderStatus.PARTIALLY_REFUNDED)
KEPT_ORDERS_SQL = "(" + ", ".join(f"'{status}'" for status in KEPT_ORDERS) + ")"
MONEY_FIGURES = (
    "coupons_issued",
    "coupons_redeemed",
    "reward_cost_fen",
    "orders",
    "order_revenue_fen",
    "receipts",
    "received_items",
)


def day_sql(column: str, postgres: bool) -> str:
    """SQL for the Shanghai day of a naive-UTC timestamp column."""
    if postgres:
        return f"CAST({column} + INTERVAL '8 hours' AS date)"
    return f"date({column}, '+8 hours')"


def shanghai_day(moment: datetime) -> date:
    return (moment + SHANGHAI).date()


def day_start(day: date) -> datetime:
    """The naive UTC moment a Shanghai day begins."""
    return datetime(day.year, day.month, day.day) - SHANGHAI


def watermark(session: Session, name: str) -> Watermark:
    mark = session.execute(select(Watermark).where(Watermark.name == name).with_for_update()).scalar_one_or_none()
    if mark is None:
        session.add(Watermark(name=name, position=0))
        session.flush()
        mark = session.execute(select(Watermark).where(Watermark.name == name).with_for_update()).scalar_one()
    return mark


def _scan_sql(postgres: bool) -> tuple[str, str]:
    """The two upserts that add the scans with lo < id <= hi: cells, and consumers' days."""
    dims = (
        f"s.brand_id, {day_sql('s.at', postgres)}, coalesce(s.region_code, ''), coalesce(b.product_id, ''), "
        "coalesce(k.bound_store_id, '')"
    )
    source = (
        "FROM scans s LEFT JOIN batches b ON b.id = s.batch_id LEFT JOIN codes k ON k.serial = s.serial "
        "WHERE s.id > :lo AND s.id <= :hi AND s.brand_id IS NOT NULL"
    )
    first = f"sum(CASE WHEN s.verdict = '{Verdict.GENUINE}' THEN 1 ELSE 0 END)"
    cells = (
        "INSERT INTO insight_scan_cells (brand_id, day, region_code, product_id, store_id, scans, first_scans) "
        f"SELECT {dims}, count(*), {first} {source} GROUP BY 1, 2, 3, 4, 5 "
        "ON CONFLICT (brand_id, day, region_code, product_id, store_id) DO UPDATE SET "
        "scans = insight_scan_cells.scans + excluded.scans, "
        "first_scans = insight_scan_cells.first_scans + excluded.first_scans"
    )
    consumers = (
        "INSERT INTO insight_consumer_days (brand_id, day, region_code, product_id, store_id, consumer_id, "
        f"first_scans) SELECT {dims}, s.consumer_id, {first} {source} AND s.consumer_id IS NOT NULL "
        "GROUP BY 1, 2, 3, 4, 5, 6 "
        "ON CONFLICT (brand_id, day, consumer_id, region_code, product_id, store_id) DO UPDATE SET "
        "first_scans = insight_consumer_days.first_scans + excluded.first_scans"
    )
    return cells, consumers


def day_number_sql(column: str, postgres: bool) -> str:
    """SQL for the Shanghai day of a naive-UTC timestamp column as days since 1970-01-01."""
    if postgres:
        return f"({day_sql(column, True)} - DATE '1970-01-01')"
    return f"CAST(julianday({day_sql(column, False)}) - 2440587.5 AS INTEGER)"


def day_of_number_sql(number: str, postgres: bool) -> str:
    if postgres:
        return f"(DATE '1970-01-01' + CAST({number} AS integer))"
    return f"date('1970-01-01', '+' || ({number}) || ' days')"


def _marks_sql(postgres: bool) -> tuple[str, str]:
    """The two statements that OR the scans with lo < id <= hi into insight_consumer_marks, after adding
    one consumer to insight_brand_days for each day bit they newly set (run in this order)."""
    bit = f"(CAST(1 AS BIGINT) << ((d.n - p.shift) % {BLOCK_DAYS}))"
    phases = ", ".join(f"({phase}, {shift})" for phase, shift in enumerate(PHASE_SHIFTS))
    chunk = (
        "WITH d AS (SELECT s.brand_id, s.consumer_id, "
        f"{day_number_sql('s.at', postgres)} AS n, max(CASE WHEN s.verdict = '{Verdict.GENUINE}' THEN 1 ELSE 0 END) "
        "AS first FROM scans s WHERE s.id > :lo AND s.id <= :hi AND s.brand_id IS NOT NULL "
        f"AND s.consumer_id IS NOT NULL GROUP BY 1, 2, 3), p(phase, shift) AS (VALUES {phases}), "
        f"c AS (SELECT d.brand_id, p.phase, d.consumer_id, (d.n - p.shift) / {BLOCK_DAYS} AS block, "
        f"CAST(sum({bit}) AS BIGINT) AS seen, CAST(sum(CASE WHEN d.first = 1 THEN {bit} ELSE 0 END) AS BIGINT) "
        "AS firsts FROM d CROSS JOIN p GROUP BY 1, 2, 3, 4)"
    )
    bits = ", ".join(f"({i})" for i in range(BLOCK_DAYS))
    new_days = (  # counted in phase 0 (shift 0) only
        f"{chunk}, b(i) AS (VALUES {bits}), "
        "x AS (SELECT c.brand_id, c.block, c.seen & ~coalesce(m.seen, 0) AS fresh FROM c "
        "LEFT JOIN insight_consumer_marks m ON m.brand_id = c.brand_id AND m.phase = c.phase "
        "AND m.block = c.block AND m.consumer_id = c.consumer_id WHERE c.phase = 0) "
        "INSERT INTO insight_brand_days (brand_id, day, consumers) "
        f"SELECT x.brand_id, {day_of_number_sql(f'x.block * {BLOCK_DAYS} + b.i', postgres)}, count(*) "
        "FROM x JOIN b ON ((x.fresh >> b.i) & 1) = 1 WHERE x.fresh <> 0 GROUP BY 1, 2 "
        "ON CONFLICT (brand_id, day) DO UPDATE SET consumers = insight_brand_days.consumers + excluded.consumers"
    )
    marks = (
        f"{chunk} INSERT INTO insight_consumer_marks (brand_id, phase, block, consumer_id, seen, firsts) "
        "SELECT brand_id, phase, block, consumer_id, seen, firsts FROM c WHERE true "
        "ON CONFLICT (brand_id, phase, block, consumer_id) DO UPDATE SET "
        "seen = insight_consumer_marks.seen | excluded.seen, firsts = insight_consumer_marks.firsts | excluded.firsts"
    )
    return new_days, marks


def _add_scans(session: Session, lo: int, hi: int) -> None:
    postgres = is_postgres(session)
    statements = (*_scan_sql(postgres), *_marks_sql(postgres))
    start = lo
    while start < hi:
        end = min(start + CHUNK, hi)
        for statement in statements:
            session.execute(text(statement), {"lo": start, "hi": end})
        start = end


def roll_scans(session: Session, settle_seconds: int) -> dict:
    """Add the scans committed since the last run to the cells; commits. {"from", "to", "scans"}."""
    now = utcnow()
    mark = watermark(session, "scans")
    start = mark.position
    if mark.pending is not None and mark.pending_at <= now - timedelta(seconds=settle_seconds):
        if mark.pending > mark.position:
            _add_scans(session, mark.position, mark.pending)
            mark.position = mark.pending
        mark.pending = mark.pending_at = None
    newest = session.scalar(text("SELECT max(id) FROM scans")) or 0
    if newest > mark.position:
        if settle_seconds <= 0:
            _add_scans(session, mark.position, newest)
            mark.position = newest
        elif mark.pending is None:
            mark.pending, mark.pending_at = newest, now
    mark.ran_at = now
    done = {"from": start, "to": mark.position}
    session.commit()
    return done


# --- coupons, orders and receipts: whole days recomputed -----------------------------------------
def _money_sources(postgres: bool) -> list[tuple[str, str]]:
    """(figures, SQL) per source: each SELECT gives brand_id, day, region, product, store and figures,
    for the rows of (brand, day) pairs in :days (a VALUES list substituted below)."""
    issued_day, redeemed_day = day_sql("c.issued_at", postgres), day_sql("c.redeemed_at", postgres)
    paid_day, receipt_day = day_sql("o.paid_at", postgres), day_sql("r.at", postgres)
    # A coupon's cell: the region of the scan that claimed its item, the item's product (else the
    # coupon's), the store the item is bound to when issued, the redeeming store when redeemed.
    coupon_from = (
        "FROM coupons c LEFT JOIN codes k ON k.serial = c.serial LEFT JOIN batches b ON b.id = k.batch_id "
        "LEFT JOIN scans s ON s.serial = c.serial AND s.claimed = :true"
    )
    product = "coalesce(b.product_id, c.product_id, '')"
    region = "coalesce(s.region_code, '')"
    return [
        (
            "coupons_issued",
            f"SELECT c.brand_id, {issued_day} AS day, {region}, {product}, coalesce(k.bound_store_id, ''), "
            f"count(*), 0 {coupon_from} WHERE c.issued_at >= :lo AND c.issued_at < :hi GROUP BY 1, 2, 3, 4, 5",
        ),
        (
            "coupons_redeemed,reward_cost_fen",
            f"SELECT c.brand_id, {redeemed_day} AS day, {region}, {product}, coalesce(c.redeemed_store_id, ''), "
            f"count(*), sum(c.budget_fen) {coupon_from} WHERE c.status = '{CouponStatus.REDEEMED}' "
            "AND c.redeemed_at >= :lo AND c.redeemed_at < :hi GROUP BY 1, 2, 3, 4, 5",
        ),
        (
            "orders,order_revenue_fen",
            f"SELECT o.brand_id, {paid_day} AS day, st.region_code, '', o.store_id, count(*), "
            "sum(o.amount_fen - o.refunded_fen) "
            f"FROM orders o JOIN stores st ON st.id = o.store_id WHERE o.status IN {KEPT_ORDERS_SQL} "
            "AND o.paid_at >= :lo AND o.paid_at < :hi GROUP BY 1, 2, 3, 4, 5",
        ),
        (
            "receipts,received_items",
            f"SELECT r.brand_id, {receipt_day} AS day, st.region_code, coalesce(b.product_id, ''), r.store_id, "
            "count(*), sum(r.items) FROM receipts r JOIN stores st ON st.id = r.store_id "
            "LEFT JOIN codes k ON k.serial = r.case_serial LEFT JOIN batches b ON b.id = k.batch_id "
            "WHERE r.at >= :lo AND r.at < :hi GROUP BY 1, 2, 3, 4, 5",
        ),
    ]


def _touched_days(session: Session, since: datetime) -> set[tuple[str, date]]:
    """(brand, day) pairs with a coupon, order or receipt written or changed since `since`."""
    pg = is_postgres(session)
    queries = [
        f"SELECT brand_id, {day_sql('issued_at', pg)} FROM coupons WHERE issued_at >= :since",
        f"SELECT brand_id, {day_sql('redeemed_at', pg)} FROM coupons WHERE redeemed_at >= :since",
        f"SELECT brand_id, {day_sql('paid_at', pg)} FROM orders WHERE paid_at >= :since OR refunded_at >= :since",
        # a refund puts the order's coupon back to issued: the day it was redeemed changes too
        f"SELECT c.brand_id, {day_sql('c.redeemed_at', pg)} FROM coupons c JOIN orders o ON o.id = c.order_id "
        "WHERE o.refunded_at >= :since AND c.redeemed_at IS NOT NULL",
        f"SELECT brand_id, {day_sql('at', pg)} FROM receipts WHERE at >= :since",
    ]
    days: set[tuple[str, date]] = set()
    for sql in queries:
        for brand_id, day in session.execute(text(sql), {"since": since}):
            if day is not None:
                days.add((brand_id, _as_day(day)))
    return days


def _as_day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def recompute_days(session: Session, days: set[tuple[str, date]]) -> None:
    """Rewrite the money cells of these (brand, day)s from the raw rows (no commit): each source is
    read once over the span of the days, and only the pairs asked for are kept."""
    if not days:
        return
    for brand_id, day in sorted(days):
        session.execute(delete(MoneyCell).where(MoneyCell.brand_id == brand_id, MoneyCell.day == day))
    bounds = {"lo": day_start(min(d for _, d in days)), "hi": day_start(max(d for _, d in days) + timedelta(days=1))}
    cells: dict[tuple, dict] = {}
    for figures, sql in _money_sources(is_postgres(session)):
        names = figures.split(",")
        for row in session.execute(text(sql), {**bounds, "true": True}):
            key = (row[0], _as_day(row[1]))
            if key not in days:
                continue
            cell = cells.setdefault((*key, row[2], row[3], row[4]), dict.fromkeys(MONEY_FIGURES, 0))
            cell[names[0]] = cell.get(names[0], 0) + row[5]
            if len(names) > 1:
                cell[names[1]] = cell.get(names[1], 0) + (row[6] or 0)
    if cells:
        session.execute(
            MoneyCell.__table__.insert(),
            [
                {"brand_id": b, "day": d, "region_code": r, "product_id": p, "store_id": s, **f}
                for (b, d, r, p, s), f in cells.items()
            ],
        )


MONEY_LAG = timedelta(minutes=5)  # rows written by a transaction that committed a little after their time


def roll_money(session: Session, settle_seconds: int) -> dict:
    """Recompute the days touched since the last run (less the settle time and a margin); commits."""
    now = utcnow()
    mark = watermark(session, "money")
    since = mark.ran_at - timedelta(seconds=settle_seconds) - MONEY_LAG if mark.ran_at else datetime(1970, 1, 1)
    days = _touched_days(session, since)
    recompute_days(session, days)
    mark.ran_at = now
    session.commit()
    return {"days": len(days)}


def rebuild(session: Session) -> None:
    """Start over: empty every rollup and its watermarks (then run the jobs). For repairs and tests."""
    for table in (
        "insight_scan_cells",
        "insight_consumer_days",
        "insight_consumer_marks",
        "insight_brand_days",
        "insight_money_cells",
        "insight_watermarks",
    ):
        session.execute(text(f"DELETE FROM {table}"))
    session.commit()
