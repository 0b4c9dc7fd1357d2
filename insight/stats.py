"""Brand statistics read from the rollups (insight/rollups.py): totals and a series for a window of
Shanghai days, campaign figures with ROI, the store ranking. Every figure here equals what the raw
rows give for the rows the rollup jobs have taken up (bench/stats.py and tests/api/test_insight.py
compute them from the raw rows and compare).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Integer, and_, case, cast, distinct, func, select, text
from sqlalchemy.orm import Session

from db import is_postgres, utcnow
from errors import NotFound, invalid
from identity.models import Partnership, Store
from insight.models import BLOCK_DAYS, PHASE_SHIFTS, BrandDay, ConsumerDay, MoneyCell, ScanCell
from insight.rollups import KEPT_ORDERS_SQL, shanghai_day
from loyalty.models import Campaign, CouponStatus

MAX_DAYS = 366
EPOCH = date(1970, 1, 1)  # day numbers of ConsumerMarks count from here
ATTRIBUTION_DAYS = 7
SCAN_FIGURES = ("scans", "first_scans")
MONEY_FIGURES = ("coupons_issued", "coupons_redeemed", "reward_cost_fen")
ORDER_FIGURES = ("orders", "order_revenue_fen")
GROUPS = ("day", "region", "product", "store")
_KEY = {"region": "region_code", "product": "product_id", "store": "store_id"}


def window(from_day: date | None, to_day: date | None) -> tuple[date, date]:
    """The days asked for (both ends included); by default the 30 days up to today in Shanghai."""
    to_day = to_day or shanghai_day(utcnow())
    from_day = from_day or to_day - timedelta(days=29)
    if to_day < from_day:
        raise invalid("to", "Must not be before from.")
    if (to_day - from_day).days >= MAX_DAYS:
        raise invalid("to", f"A window is at most {MAX_DAYS} days.")
    return from_day, to_day


def _where(model, brand_id: str, first: date, last: date, product_id: str | None, region_code: str | None):
    conditions = [model.brand_id == brand_id, model.day >= first, model.day <= last]
    if product_id is not None:
        conditions.append(model.product_id == product_id)
    if region_code is not None:
        conditions.append(model.region_code == region_code)
    return and_(*conditions)


def _key_of(value) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return value or ""


def brand_stats(
    session: Session,
    brand_id: str,
    from_day: date | None = None,
    to_day: date | None = None,
    group_by: str = "day",
    product_id: str | None = None,
    region_code: str | None = None,
) -> dict:
    first, last = window(from_day, to_day)
    filters = (brand_id, first, last, product_id, region_code)
    totals = dict.fromkeys(SCAN_FIGURES + MONEY_FIGURES + ORDER_FIGURES + ("receipts",), 0)

    scans = session.execute(
        select(*(func.coalesce(func.sum(getattr(ScanCell, f)), 0) for f in SCAN_FIGURES)).where(
            _where(ScanCell, *filters)
        )
    ).one()
    totals.update(zip(SCAN_FIGURES, (int(v) for v in scans)))
    money = session.execute(
        select(*(func.coalesce(func.sum(getattr(MoneyCell, f)), 0) for f in MONEY_FIGURES + ("receipts",))).where(
            _where(MoneyCell, *filters)
        )
    ).one()
    totals.update(zip(MONEY_FIGURES + ("receipts",), (int(v) for v in money)))
    # Orders are not split by product (an order may hold several): a product filter does not narrow them.
    orders = session.execute(
        select(*(func.coalesce(func.sum(getattr(MoneyCell, f)), 0) for f in ORDER_FIGURES)).where(
            _where(MoneyCell, brand_id, first, last, None, region_code)
        )
    ).one()
    totals.update(zip(ORDER_FIGURES, (int(v) for v in orders)))

    if product_id is None and region_code is None:
        unique, with_first, repeat = _consumers_from_marks(session, brand_id, first, last)
    else:
        unique, with_first, repeat = _consumers_from_days(session, filters)
    totals["unique_consumers"] = int(unique)
    totals["repeat_consumers"] = int(repeat)
    totals["repurchase_rate"] = round(int(repeat) / int(with_first), 4) if with_first else 0.0

    series = _series(session, group_by, filters)
    if group_by == "day":
        series = _every_day(series, first, last)
    ordered = {k: totals[k] for k in SERIES_TOTALS_ORDER}
    return {"from": first, "to": last, "group_by": group_by, "totals": ordered, "series": series}


def _consumers_from_days(session: Session, filters: tuple) -> tuple[int, int, int]:
    """(unique consumers, with a first scan, repeat) of a filtered window, from the consumers' days."""
    first_days = func.count(distinct(case((ConsumerDay.first_scans > 0, ConsumerDay.day))))
    per_consumer = (
        select(ConsumerDay.consumer_id, first_days.label("first_days"))
        .where(_where(ConsumerDay, *filters))
        .group_by(ConsumerDay.consumer_id)
        .subquery()
    )
    return session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(cast(per_consumer.c.first_days >= 1, Integer)), 0),
            func.coalesce(func.sum(cast(per_consumer.c.first_days >= 2, Integer)), 0),
        ).select_from(per_consumer)
    ).one()


def block_masks(first: date, last: date, shift: int = 0) -> dict[int, int]:
    """{block: mask of the window's days in it} for ConsumerMarks of the phase with this shift (bit i =
    day block * BLOCK_DAYS + shift + i)."""
    lo, hi = day_number(first) - shift, day_number(last) - shift
    masks = {}
    for block in range(lo // BLOCK_DAYS, hi // BLOCK_DAYS + 1):
        start = block * BLOCK_DAYS
        a, b = max(lo, start) - start, min(hi, start + BLOCK_DAYS - 1) - start
        masks[block] = ((1 << (b - a + 1)) - 1) << a
    return masks


def day_number(day: date) -> int:
    return (day - EPOCH).days


def _consumers_from_marks(session: Session, brand_id: str, first: date, last: date) -> tuple[int, int, int]:
    """(unique consumers, with a first scan, repeat) of the brand's whole window from ConsumerMarks:
    a consumer is in the window when its `seen` bits meet the window's mask; it has first scans on
    two or more days when its masked `firsts` has two bits set (f & (f - 1) <> 0) in one block, or
    bits in two blocks. A window of up to 32 days lies in one block of one phase: one pass over one row
    per consumer, no grouping by consumer; longer windows group the phase's blocks by consumer."""
    phase, masks = min(
        ((phase, block_masks(first, last, shift)) for phase, shift in enumerate(PHASE_SHIFTS)),
        key=lambda found: len(found[1]),
    )  # a window of up to 32 days lies in one block of one phase
    params = {"b": brand_id, "p": phase, **{f"m{i}": m for i, m in enumerate(masks.values())}}
    blocks = list(masks)
    two = "CASE WHEN (f & (f - 1)) <> 0 THEN 1 ELSE 0 END"
    one = "CASE WHEN f <> 0 THEN 1 ELSE 0 END"
    if len(blocks) == 1:
        sql = (
            f"SELECT count(*), coalesce(sum({one}), 0), coalesce(sum({two}), 0) FROM ("
            "SELECT seen & :m0 AS s, firsts & :m0 AS f FROM insight_consumer_marks "
            "WHERE brand_id = :b AND phase = :p AND block = :k0) t WHERE s <> 0"
        )
        params["k0"] = blocks[0]
    else:
        mask = "CASE block " + " ".join(f"WHEN {k} THEN :m{i}" for i, k in enumerate(blocks)) + " END"
        sql = (
            "SELECT count(*), coalesce(sum(CASE WHEN ones >= 1 THEN 1 ELSE 0 END), 0), "
            "coalesce(sum(CASE WHEN twos >= 1 OR ones >= 2 THEN 1 ELSE 0 END), 0) FROM ("
            f"SELECT consumer_id, sum({one}) AS ones, sum({two}) AS twos FROM ("
            f"SELECT consumer_id, seen & {mask} AS s, firsts & {mask} AS f FROM insight_consumer_marks "
            f"WHERE brand_id = :b AND phase = :p AND block >= {blocks[0]} AND block <= {blocks[-1]}) x "
            "WHERE s <> 0 GROUP BY consumer_id) t"
        )
    return tuple(int(v) for v in session.execute(text(sql), params).one())


SERIES_TOTALS_ORDER = (
    "scans",
    "first_scans",
    "unique_consumers",
    "repeat_consumers",
    "repurchase_rate",
    "coupons_issued",
    "coupons_redeemed",
    "reward_cost_fen",
    "orders",
    "order_revenue_fen",
    "receipts",
)
SERIES_FIGURES = SCAN_FIGURES + ("unique_consumers",) + MONEY_FIGURES


def _series(session: Session, group_by: str, filters: tuple) -> list[dict]:
    rows: dict[str, dict] = {}

    def add(key, figures: dict):
        row = rows.setdefault(_key_of(key), dict.fromkeys(SERIES_FIGURES, 0))
        for name, value in figures.items():
            row[name] += int(value or 0)

    def column(model):
        return model.day if group_by == "day" else getattr(model, _KEY[group_by])

    key = column(ScanCell)
    for k, *values in session.execute(
        select(key, *(func.sum(getattr(ScanCell, f)) for f in SCAN_FIGURES))
        .where(_where(ScanCell, *filters))
        .group_by(key)
    ):
        add(k, dict(zip(SCAN_FIGURES, values)))
    brand_id, first, last, product_id, region_code = filters
    if group_by == "day" and product_id is None and region_code is None:
        consumers = select(BrandDay.day, BrandDay.consumers).where(
            BrandDay.brand_id == brand_id, BrandDay.day >= first, BrandDay.day <= last
        )
    else:
        key = column(ConsumerDay)
        consumers = (
            select(key, func.count(distinct(ConsumerDay.consumer_id)))
            .where(_where(ConsumerDay, *filters))
            .group_by(key)
        )
    for k, n in session.execute(consumers):
        add(k, {"unique_consumers": n})
    key = column(MoneyCell)
    money_query = (
        select(key, *(func.sum(getattr(MoneyCell, f)) for f in MONEY_FIGURES))
        .where(_where(MoneyCell, *filters))
        .where((MoneyCell.coupons_issued > 0) | (MoneyCell.coupons_redeemed > 0))
        .group_by(key)
    )
    for k, *values in session.execute(money_query):
        add(k, dict(zip(MONEY_FIGURES, values)))
    return [{"key": k, **v} for k, v in sorted(rows.items())]


def _every_day(series: list[dict], first: date, last: date) -> list[dict]:
    by_key = {row["key"]: row for row in series}
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    return [by_key.get(d) or {"key": d, **dict.fromkeys(SERIES_FIGURES, 0)} for d in days]


# --- campaigns ------------------------------------------------------------------------------------
def campaign_stats(session: Session, brand_id: str, campaign_id: str) -> dict:
    """Coupons the campaign issued and redeemed, what the redemptions cost the brand, and the orders
    attributed to it (docs/insight.md): paid orders that used one of its coupons, and paid orders by
    a consumer it rewarded from their first reward until ATTRIBUTION_DAYS after their last; each once."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.brand_id != brand_id:
        raise NotFound("No such campaign.")
    pg = is_postgres(session)
    row = session.execute(
        text(
            "SELECT count(*), "
            "coalesce(sum(CASE WHEN status = :redeemed THEN 1 ELSE 0 END), 0), "
            "coalesce(sum(CASE WHEN status = :redeemed THEN budget_fen ELSE 0 END), 0) "
            "FROM coupons WHERE campaign_id = :c"
        ),
        {"c": campaign_id, "redeemed": CouponStatus.REDEEMED},
    ).one()
    until = f"r.last + INTERVAL '{ATTRIBUTION_DAYS} days'" if pg else f"datetime(r.last, '+{ATTRIBUTION_DAYS} days')"
    attributed = session.execute(
        text(
            "SELECT count(*), coalesce(sum(o.amount_fen - o.refunded_fen), 0) FROM orders o "
            f"WHERE o.brand_id = :b AND o.status IN {KEPT_ORDERS_SQL} AND ("
            " o.coupon_id IN (SELECT id FROM coupons WHERE campaign_id = :c)"
            " OR EXISTS (SELECT 1 FROM (SELECT consumer_id, min(issued_at) AS first, max(issued_at) AS last"
            "  FROM coupons WHERE campaign_id = :c GROUP BY consumer_id) r"
            f"  WHERE r.consumer_id = o.consumer_id AND o.paid_at >= r.first AND o.paid_at < {until}))"
        ),
        {"b": brand_id, "c": campaign_id},
    ).one()
    issued, redeemed, cost = (int(v) for v in row)
    orders, revenue = (int(v) for v in attributed)
    return {
        "campaign_id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "issued": issued,
        "redeemed": redeemed,
        "cost_fen": cost,
        "attributed_orders": orders,
        "attributed_revenue_fen": revenue,
        "roi": round((revenue - cost) / cost, 4) if cost else None,
        "attribution_days": ATTRIBUTION_DAYS,
    }


def brand_campaigns(session: Session, brand_id: str, limit: int = 20) -> list[dict]:
    """The brand's newest campaigns with their figures (the dashboard's table)."""
    ids = session.scalars(
        select(Campaign.id).where(Campaign.brand_id == brand_id).order_by(Campaign.created_at.desc()).limit(limit)
    )
    return [campaign_stats(session, brand_id, i) for i in list(ids)]


# --- the store ranking ----------------------------------------------------------------------------
RANKINGS = ("receipts", "sell_through", "redemptions")


def store_ranking(
    session: Session, brand_id: str, from_day: date | None, to_day: date | None, by: str, limit: int, offset: int
) -> tuple[list[dict], int | None]:
    """The stores of the brand's network with their figures in the window, best first by `by`:
    receipts (cases received), sell_through (first scans of items bound to the store), redemptions
    (the brand's coupons the store redeemed). (rows, next offset or None)."""
    first, last = window(from_day, to_day)
    scans = (
        select(ScanCell.store_id, func.sum(ScanCell.first_scans).label("sell_through"))
        .where(_where(ScanCell, brand_id, first, last, None, None))
        .group_by(ScanCell.store_id)
        .subquery()
    )
    money = (
        select(
            MoneyCell.store_id,
            func.sum(MoneyCell.receipts).label("receipts"),
            func.sum(MoneyCell.received_items).label("received_items"),
            func.sum(MoneyCell.coupons_redeemed).label("redemptions"),
        )
        .where(_where(MoneyCell, brand_id, first, last, None, None))
        .group_by(MoneyCell.store_id)
        .subquery()
    )
    figures = {
        "receipts": func.coalesce(money.c.receipts, 0),
        "received_items": func.coalesce(money.c.received_items, 0),
        "sell_through": func.coalesce(scans.c.sell_through, 0),
        "redemptions": func.coalesce(money.c.redemptions, 0),
    }
    query = (
        select(Store.id, Store.name, Store.region_code, *(v.label(k) for k, v in figures.items()))
        .join(Partnership, and_(Partnership.store_id == Store.id, Partnership.brand_id == brand_id))
        .outerjoin(scans, scans.c.store_id == Store.id)
        .outerjoin(money, money.c.store_id == Store.id)
        .order_by(figures[by].desc(), Store.id)
        .offset(offset)
        .limit(limit + 1)
    )
    rows = [
        {"rank": offset + i + 1, "store_id": r.id, "name": r.name, "region_code": r.region_code}
        | {k: int(getattr(r, k)) for k in figures}
        for i, r in enumerate(session.execute(query))
    ]
    return rows[:limit], (offset + limit if len(rows) > limit else None)
