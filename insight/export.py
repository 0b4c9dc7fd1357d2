"""GET /brand/scans.csv: a brand's scans in a window of Shanghai days, for its own BI.

Streamed in keyset chunks of CHUNK rows by scan id, each read in its own short session, so memory
stays constant however many scans the window holds and no transaction stays open while a slow
client reads."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, timedelta

from sqlalchemy import select

from codes.models import Batch, Code, Scan
from db import read_session
from insight.rollups import day_start, shanghai_day

CHUNK = 2000
HEADER = (
    "scan_id",
    "at",
    "day",
    "verdict",
    "serial",
    "batch_id",
    "product_id",
    "store_id",
    "region_code",
    "consumer_id",
    "lat",
    "lng",
)


def _line(values) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


def scan_rows(app, brand_id: str, first: date, last: date) -> Iterator[str]:
    """The CSV text, header first, a chunk of lines per yield, oldest scan first."""
    yield _line(HEADER)
    lo, hi = day_start(first), day_start(last + timedelta(days=1))
    after = 0
    while True:
        query = (
            select(Scan, Batch.product_id, Code.bound_store_id)
            .outerjoin(Batch, Batch.id == Scan.batch_id)
            .outerjoin(Code, Code.serial == Scan.serial)
            .where(Scan.brand_id == brand_id, Scan.at >= lo, Scan.at < hi, Scan.id > after)
            .order_by(Scan.id)
            .limit(CHUNK)
        )
        with read_session(app) as session:
            rows = session.execute(query).all()
        if not rows:
            return
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for scan, product_id, store_id in rows:
            writer.writerow(
                (
                    scan.id,
                    scan.at.isoformat() + "Z",
                    shanghai_day(scan.at).isoformat(),
                    scan.verdict,
                    scan.serial,
                    scan.batch_id,
                    product_id,
                    store_id,
                    scan.region_code,
                    scan.consumer_id,
                    scan.lat,
                    scan.lng,
                )
            )
        yield out.getvalue()
        after = rows[-1][0].id
