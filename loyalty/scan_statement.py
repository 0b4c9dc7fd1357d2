"""PostgreSQL: the everyday scan batch as one statement, in one round trip and its own transaction.

The everyday batch is first scans of codes that have no row yet (the label was printed and
activated, nobody scanned it), under campaigns whose only limits are their budget and count
cap. For it, everything after verification and the draw is one statement, run on an
autocommit connection so that the statement is the whole transaction:

1. INSERT the codes' rows already claimed (ON CONFLICT DO NOTHING): the database decides each
   claim, exactly as in codes/scans.py, and only the rows this statement created come back;
2. append those scans to the scans table;
3. lock the campaigns in id order and take each one's prizes among the created codes in one
   conditional UPDATE (active, budget and count cap allow all of them), as the general path's
   _grant_all does;
4. INSERT those coupons.

Then the statement checks that it did the whole job; if not it calls scan_batch_refused()
(migration 0006), whose error rolls all of it back, and the caller sends the batch down the
general path (loyalty/scan_rewards.py), which rereads the catalog and takes prizes one by one:
- the catalog's counters (codes/catalog.py) differ from those the batch was verified against;
- a campaign refused: paused or ended meanwhile, or its budget or count cap cannot take every
  prize of the batch (near the end of a campaign, where the general path gives out what fits).
  The error names those campaigns, and the caller's catalog remembers them until the campaigns
  change, so that their winners go straight to the general path rather than every later batch
  being refused.
A scan whose code already had a row (or got one from a concurrent scan) is not written here:
it is left out of the created serials, and the caller counts it on the general path.
"""
from __future__ import annotations

import json

import psycopg

from codes.models import Scan
from identity import models as _identity  # noqa: F401 - types the coupons' foreign keys
from loyalty.models import Coupon
from pgfast import json_array, pg_recordset, pg_run

REFUSED = "QR001"   # the SQLSTATE scan_batch_refused() raises

COUPON_COLUMNS = tuple(c.name for c in Coupon.__table__.columns)
_SCAN_COLUMNS = ("serial", "batch_id", "brand_id", "consumer_id", "lat", "lng", "region_code", "ip", "at")


# The batch's scans: Scan's columns plus claimant (the consumer, or null when it may not claim).
SQL = f"""
WITH s AS (SELECT * FROM {pg_recordset(Scan.__table__, _SCAN_COLUMNS, "%(scans)s", "x", "claimant varchar")}),
claimed AS (
    INSERT INTO codes (serial, batch_id, scan_count, first_scan_at, first_scan_lat, first_scan_lng, claimed_by,
                       claimed_at)
    SELECT serial, batch_id, 1, at, lat, lng, claimant, CASE WHEN claimant IS NOT NULL THEN at END
    FROM s ORDER BY serial
    ON CONFLICT (serial) DO NOTHING
    RETURNING serial, claimed_by),
recorded AS (
    INSERT INTO scans (consumer_id, serial, batch_id, brand_id, verdict, claimed, lat, lng, region_code, ip, at)
    SELECT s.consumer_id, s.serial, s.batch_id, s.brand_id, 'genuine', s.claimant IS NOT NULL, s.lat, s.lng,
           s.region_code, s.ip, s.at
    FROM s JOIN claimed USING (serial)),
w AS (
    SELECT x.* FROM {pg_recordset(Coupon.__table__, COUPON_COLUMNS, "%(wins)s", "x")}
    JOIN claimed c ON c.serial = x.serial AND c.claimed_by = x.consumer_id),
wanted AS (SELECT campaign_id, count(*) AS n, sum(budget_fen) AS cost FROM w GROUP BY campaign_id),
locked AS MATERIALIZED (SELECT id FROM campaigns WHERE id IN (SELECT campaign_id FROM wanted) ORDER BY id FOR UPDATE),
took AS (
    UPDATE campaigns c SET issued = c.issued + g.n, committed_fen = c.committed_fen + g.cost
    FROM wanted g JOIN locked l ON l.id = g.campaign_id
    WHERE c.id = g.campaign_id AND c.status = 'active'
      AND c.budget_fen - c.committed_fen - c.spent_fen - c.released_fen >= g.cost
      AND (c.max_rewards IS NULL OR c.issued + g.n <= c.max_rewards)
    RETURNING c.id),
issued AS (
    INSERT INTO coupons ({", ".join(COUPON_COLUMNS)})
    SELECT {", ".join(COUPON_COLUMNS)} FROM w WHERE campaign_id IN (SELECT id FROM took))
SELECT ARRAY(SELECT serial FROM claimed),
       set_config('synchronous_commit', %(synchronous_commit)s, true),
       CASE WHEN (SELECT coalesce(jsonb_object_agg(area, version), '{{}}'::jsonb) FROM cache_versions)
                 <> %(versions)s::jsonb THEN scan_batch_refused('the catalog moved', NULL)
            WHEN (SELECT count(*) FROM took) <> (SELECT count(*) FROM wanted)
                 THEN scan_batch_refused('a campaign cannot take every prize',
                                         (SELECT string_agg(campaign_id, ',') FROM wanted
                                          WHERE campaign_id NOT IN (SELECT id FROM took))) END
"""


class Refused(Exception):
    """The statement undid itself: run the batch on the general path. `campaigns`: those that could
    not take every prize (empty when the catalog had moved)."""

    def __init__(self, message: str, campaigns: frozenset[str]):
        super().__init__(message)
        self.campaigns = campaigns


def run(raw, versions: dict[str, int], scans: list[dict], wins: list[dict], synchronous_commit: str = "on") -> set[int]:
    """The serials whose rows this statement created (their scans were claimed, recorded and
    rewarded); raises Refused when it wrote nothing. `raw`: a psycopg connection in autocommit.
    scans: {serial, batch_id, brand_id, consumer_id, claimant, lat, lng, region_code, ip, at};
    wins: coupon rows (loyalty.coupons.coupon_row) of every prize the batch's first scans drew;
    synchronous_commit: PostgreSQL's setting for this statement's transaction alone (see README,
    "Durability of first scans")."""
    params = {"scans": json_array(scans), "wins": json_array(wins), "versions": json.dumps(versions),
              "synchronous_commit": synchronous_commit}
    try:
        created = pg_run(raw, SQL, params).fetchone()[0]
    except psycopg.Error as error:
        if error.sqlstate == REFUSED:
            detail = error.diag.message_detail or ""
            raise Refused(str(error), frozenset(filter(None, detail.split(",")))) from None
        raise
    return set(created)
