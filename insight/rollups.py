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
from insight.models import MoneyCell, Watermark
from loyalty.models import CouponStatus
from storefront.models import OrderStatus

SHANGHAI = timedelta(hours=8)  # China Standard Time all year (no daylight saving)
CHUNK = 1_000_000  # scan ids per statement
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


def _add_scans(session: Session, lo: int, hi: int) -> None:
    cells, consumers = _scan_sql(is_postgres(session))
    start = lo
    while start < hi:
        end = min(start + CHUNK, hi)
        session.execute(text(cells), {"lo": start, "hi": end})
        session.execute(text(consumers), {"lo": start, "hi": end})
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
            f"SELECT o.brand_id, {paid_day} AS day, st.region_code, '', o.store_id, count(*), sum(o.amount_fen) "
            f"FROM orders o JOIN stores st ON st.id = o.store_id WHERE o.status = '{OrderStatus.PAID}' "
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
    for table in ("insight_scan_cells", "insight_consumer_days", "insight_money_cells", "insight_watermarks"):
        session.execute(text(f"DELETE FROM {table}"))
    session.commit()
