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
   _grant_all does (loyalty/scanning/prizes.py), with the campaign's own REMAINING expression;
4. INSERT those coupons.

Then the statement checks that it did the whole job; if not it calls scan_batch_refused()
(migration 0006), whose error rolls all of it back, and the caller sends the batch down the
general path (loyalty/scanning/batch.py), which rereads the catalog and takes prizes one by one:
- the catalog's counters (codes/catalog.py) differ from those the batch was verified against;
- a campaign refused: paused or ended meanwhile, or its budget or count cap cannot take every
  prize of the batch (near the end of a campaign, where the general path gives out what fits).
  The error names those campaigns, and the caller's catalog remembers them until the campaigns
  change, so that their winners go straight to the general path rather than every later batch
  being refused.
A scan whose code already had a row (or got one from a concurrent scan) is not written here:
it is left out of the created serials, and the caller counts it on the general path.

`everyday` picks the batch's scans this statement can write (verified and drawn here), builds each
one's body as it will be if the statement creates the code's row, and runs the statement.
"""

from __future__ import annotations

import json

import psycopg

from codes.catalog import catalog
from codes.models import Scan, Verdict
from codes.scans import first_scan
from db import read_session
from identity import models as _identity  # noqa: F401 - types the coupons' foreign keys
from identity.nearby import region_near
from loyalty.campaigns import remaining
from loyalty.coupons import COUPON_COLUMNS
from loyalty.models import Campaign, CampaignStatus, Coupon
from loyalty.scanning import catalog as scan_catalog
from loyalty.scanning.prizes import Win, award, coupon, draws, limit_count
from loyalty.scanning.request import ScanRequest, ScanState, verified
from loyalty.scanning.response import response
from pgfast import json_array, pg_autocommit, pg_recordset, pg_run, pg_text

REFUSED = "QR001"  # the SQLSTATE scan_batch_refused() raises
_REMAINING = pg_text(remaining(Campaign.__table__.alias("c").c))  # the campaign's own expression, over `c`
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
    SELECT s.consumer_id, s.serial, s.batch_id, s.brand_id, '{Verdict.GENUINE}', s.claimant IS NOT NULL, s.lat, s.lng,
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
    WHERE c.id = g.campaign_id AND c.status = '{CampaignStatus.ACTIVE}'
      AND {_REMAINING} >= g.cost
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
    params = {
        "scans": json_array(scans),
        "wins": json_array(wins),
        "versions": json.dumps(versions),
        "synchronous_commit": synchronous_commit,
    }
    try:
        created = pg_run(raw, SQL, params).fetchone()[0]
    except psycopg.Error as error:
        if error.sqlstate == REFUSED:
            detail = error.diag.message_detail or ""
            raise Refused(str(error), frozenset(filter(None, detail.split(",")))) from None
        raise
    return set(created)


def everyday(requests: list[ScanRequest]) -> list[dict | None] | None:
    """The batch's first scans of codes that have no row yet, under campaigns limited only by budget
    and count cap, in one statement (run). Each request's body, or None for the general path (any
    other verdict, a code that already had a row, a campaign with per-consumer or tier limits or
    found short of prizes); None for all when the statement refused."""
    cached = catalog()
    seen = cached.versions()  # before any read (see batch._scan_batch)
    picked: list[ScanState] = []
    wins: list[Win] = []
    with read_session() as session:  # reads only what the catalog misses, and regions near a location
        for r in requests:
            s = verified(session, cached, r, genuine_only=True)
            if s is None:
                continue
            s.region = region_near(session, r.lat, r.lng)  # a code with no row is bound to no store
            drawn = [] if s.blacklisted else draws(session, s)
            if any(
                limit_count(w.campaign, w.tier) > 1 or scan_catalog.short_of_prizes(cached, w.campaign.id)
                for w in drawn
            ):
                continue
            picked.append(s)
            wins += drawn
        if not picked:
            return [None] * len(requests)
        coupons = {id(w): coupon(w) for w in wins}
        rows = [
            {
                "serial": s.found.serial,
                "batch_id": s.found.batch.id,
                "brand_id": s.found.batch.brand_id,
                "consumer_id": s.request.consumer_id,
                "claimant": None if s.blacklisted else s.request.consumer_id,
                "lat": s.request.lat,
                "lng": s.request.lng,
                "region_code": s.region,
                "ip": s.request.ip,
                "at": s.request.at,
            }
            for s in picked
        ]
        # Each body as it will be if the statement creates the code's row: after it commits, nothing
        # that could fail is left to do (a failure then would have the batch retried, scans twice).
        award(sorted(wins, key=lambda w: w.campaign.id), coupons)
        bodies: dict[int, tuple[int, dict]] = {}  # id(request) -> (serial, body)
        for s in picked:
            r = s.request
            s.outcome = first_scan(s.found, None if s.blacklisted else r.consumer_id, r.at, r.lat, r.lng)
            bodies[id(r)] = (s.found.serial, response(session, s))
    try:
        with pg_autocommit() as raw:
            created = run(raw, seen, rows, list(coupons.values()), requests[0].settings.synchronous_commit)
    except Refused as refused:
        scan_catalog.mark_short_of_prizes(cached, refused.campaigns)
        return None
    answered = (bodies.get(id(r), (None, None)) for r in requests)
    return [body if serial in created else None for serial, body in answered]
