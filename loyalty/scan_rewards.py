"""POST /scans: verify, count, claim, and grant the brand's scan rewards to the first scanner.

Concurrent scans in one process are written together (groupcommit.py): one transaction and one
commit for every scan that queued while the previous batch was in the database. Inside it:
1. the throttle counts every scan of the batch in one Redis round trip;
2. verification reads through the process's catalog (codes/catalog.py), whose versions are
   checked once for the batch;
3. one multi-row INSERT claims the codes scanned for the first time (codes/scans.py);
4. one multi-row INSERT appends the scans;
5. each winning draw is granted by conditional UPDATEs: per campaign, one UPDATE takes the whole
   batch's prizes when the budget and count cap allow them all; otherwise each winner's caps
   (per-consumer daily/total, tier max_count, count cap, budget) are taken one at a time, and
   the first that refuses turns that prize into "no prize". A unique (campaign, serial, kind)
   on coupons is the last line against a double reward. This comes last, just before the
   commit, because every batch's winners update the same campaign rows.
Locks are taken codes (by serial), then campaigns (by id), then ledger accounts (T+0 hooks).

On PostgreSQL the everyday batch skips most of that: first scans of codes that have no row yet,
under campaigns limited only by budget and count cap, are verified and drawn here and then
claimed, recorded and rewarded by one statement in its own transaction, one round trip
(loyalty/scan_statement.py, `_everyday`). Whatever it does not take (other verdicts, codes that
already had a row, campaigns with per-consumer or tier limits) runs as above in a second
transaction; when it refuses the batch (stale catalog, a campaign that cannot take every prize)
it has written nothing and the whole batch runs as above.
"""
from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby

import psycopg
from flask import current_app
from sqlalchemy import and_, bindparam, insert, literal_column, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from codes import scans
from codes.catalog import Snapshot, catalog
from codes.verify import LIVE, Verification, verify
from db import dispose, engine, insert_ignore, is_postgres, isoformat, read_session, session_scope, utcnow
from groupcommit import GroupCommit, Job, for_this_process
from identity.models import Partnership, Store
from identity.regions import covered_by_any, distance_m
from loyalty import draw, scan_statement, throttle
from loyalty.coupons import coupon_row, describe
from loyalty.models import Campaign, ConsumerCount, Coupon, TierCount
from pgfast import Writes, json_array, json_rows, pg_autocommit, pg_connection, pg_insert_json, pg_text

SCAN_LINGER_S = 0.002          # under load, a batch first waits this long for more scans (groupcommit.py)
REGION_RADIUS_M = 30_000       # the nearest store within this distance tells the consumer's region
STORE_COUPON_RADIUS_M = 10_000
FAR_APART_M = 100_000
FAR_APART_WINDOW = timedelta(hours=48)
_start_lock = threading.Lock()


class _NoPrize(Exception):
    """Raised inside a winner's savepoint to undo the counter increments already taken."""


@dataclass
class ScanRequest:
    consumer_id: str
    code: str
    lat: float | None
    lng: float | None
    ip: str | None
    at: datetime
    refused: Exception | None = None   # set by the throttle, once: a retried batch must not count again
    counted: bool = False


@dataclass
class _Scan:
    """One scan's state through a batch."""
    request: ScanRequest
    found: Verification
    blacklisted: bool = False
    outcome: scans.ScanOutcome | None = None
    bound_store: Snapshot | None = None
    region: str | None = None
    rewards: list = field(default_factory=list)   # coupon rows (Coupon or Snapshot), for describe()


@dataclass
class _Win:
    scan: _Scan
    campaign: Snapshot
    tier: int
    reward: dict
    cost: int
    store_id: str | None


def scan(consumer_id: str, code: str, lat: float | None, lng: float | None, ip: str | None) -> dict:
    """The scan's response body; raises Throttled past a limit. Waits for the batch it joins."""
    request = ScanRequest(consumer_id, code, lat, lng, ip, utcnow())
    return _group().run(request, key=_code_key(code))


def _group() -> GroupCommit:
    state = current_app.extensions
    found = state.get("scan_commit")
    if found is None:
        with _start_lock:
            found = state.get("scan_commit") or state.setdefault("scan_commit", for_this_process(_flush, SCAN_LINGER_S))
    return found


def _code_key(code: str) -> str | None:
    """Scans of one code go to different batches, so that the later sees the earlier's claim."""
    from codes import tokens

    try:
        return str(tokens.parse(code).serial)
    except tokens.Malformed:
        return None


def _flush(jobs: list[Job]) -> None:
    config = current_app.config
    uncounted = [job.payload for job in jobs if not job.payload.counted]
    refused = throttle.hit_many([
        ((f"consumer:{r.consumer_id}", config.get("SCAN_LIMIT_PER_CONSUMER", 30)),
         (f"ip:{r.ip}", config.get("SCAN_LIMIT_PER_IP", 120) if r.ip else 0)) for r in uncounted])
    for r, error in zip(uncounted, refused):
        r.refused, r.counted = error, True
    for job in jobs:
        job.error = job.payload.refused
    admitted = [job for job in jobs if job.error is None]
    if not admitted:
        return
    try:
        _scan_all(admitted)
    except (psycopg.OperationalError, DBAPIError) as exc:
        if not _lost_connection(exc):
            raise
        # The database dropped the connection (a restart, a failover), and likely every other one in the
        # pools: close them all and run the scans still unanswered once more on new ones. Had the
        # statement committed just before the link broke, its codes now have rows and these scans read
        # as their claimant's rescans (no second reward).
        dispose()
        _scan_all([job for job in admitted if job.result is None])


def _lost_connection(exc: Exception) -> bool:
    """A connection failure (SQLSTATE class 08, an administrator or crash shutdown, or no SQLSTATE at
    all: the socket closed), not an error of the statement (a timeout, a lock, a deadlock)."""
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated)
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _scan_all(jobs: list[Job]) -> None:
    """Answer the admitted scans: the everyday ones in one statement on PostgreSQL, the rest (and
    all of them on SQLite) on the general path. The statement's scans are answered as soon as it
    has committed, so that if the general path then fails, only its own scans are retried."""
    requests = [job.payload for job in jobs]
    bodies = _everyday(requests) if is_postgres(engine()) else [None] * len(requests)
    optimistic = bodies is not None   # refused: the catalog may have moved, so reread it first
    for job, body in zip(jobs, bodies or [None] * len(jobs)):
        job.result = body
    rest = [job for job in jobs if job.result is None]
    if rest:
        for job, body in zip(rest, _general([job.payload for job in rest], optimistic)):
            job.result = body


def _general(requests: list[ScanRequest], optimistic: bool = True) -> list[dict]:
    if optimistic:
        try:
            with session_scope() as session:
                return _scan_batch(session, requests, optimistic=True)
        except scans.CatalogMoved:   # rolled back; the catalog is current now
            pass
    with session_scope() as session:
        return _scan_batch(session, requests, optimistic=False)


def _everyday(requests: list[ScanRequest]) -> list[dict | None] | None:
    """PostgreSQL: the batch's first scans of codes that have no row yet, under campaigns limited
    only by budget and count cap, in one statement (loyalty/scan_statement.py). Each request's
    body, or None for the general path (any other verdict, a code that already had a row, a
    campaign with per-consumer or tier limits or found short of prizes); None for all when the
    statement refused."""
    cached = catalog()
    seen = cached.versions()   # before any read (see _scan_batch)
    picked: list[_Scan] = []
    wins: list[_Win] = []
    with read_session() as session:   # reads only what the catalog misses, and regions near a location
        for r in requests:
            found = verify(session, r.code, refresh=False, load_code=False)
            if found.verdict != "genuine":
                continue
            s = _Scan(r, found, cached.blacklisted(session, found.batch.brand_id, r.consumer_id))
            s.region = _region_near(session, r.lat, r.lng)   # a code with no row is bound to no store
            drawn = [] if s.blacklisted else _draws(session, s)
            if any(_limit_count(w.campaign, w.tier) > 1 or cached.short_of_prizes(w.campaign.id) for w in drawn):
                continue
            picked.append(s)
            wins += drawn
        if not picked:
            return [None] * len(requests)
        coupons = {id(w): _coupon(w) for w in wins}
        rows = [{"serial": s.found.serial, "batch_id": s.found.batch.id, "brand_id": s.found.batch.brand_id,
                 "consumer_id": s.request.consumer_id, "claimant": None if s.blacklisted else s.request.consumer_id,
                 "lat": s.request.lat, "lng": s.request.lng, "region_code": s.region, "ip": s.request.ip,
                 "at": s.request.at} for s in picked]
        # Each body as it will be if the statement creates the code's row: after it commits, nothing
        # that could fail is left to do (a failure then would have the batch retried, scans twice).
        for w in sorted(wins, key=lambda w: w.campaign.id):
            w.scan.rewards.append(Snapshot(**coupons[id(w)]))
        bodies: dict[int, tuple[int, dict]] = {}   # id(request) -> (serial, body)
        for s in picked:
            r, claimant = s.request, None if s.blacklisted else s.request.consumer_id
            s.outcome = scans.ScanOutcome(s.found, "genuine", 1, claimant is not None, claimant, r.at, r.lat, r.lng,
                                          None)
            bodies[id(r)] = (s.found.serial, _response(session, s))
    try:
        with pg_autocommit() as raw:
            created = scan_statement.run(raw, seen, rows, list(coupons.values()),
                                         current_app.config["SCAN_SYNCHRONOUS_COMMIT"])
    except scan_statement.Refused as refused:
        cached.mark_short_of_prizes(refused.campaigns)
        return None
    answered = (bodies.get(id(r), (None, None)) for r in requests)
    return [body if serial in created else None for serial, body in answered]


def _scan_batch(session: Session, requests: list[ScanRequest], optimistic: bool) -> list[dict]:
    """Optimistic (PostgreSQL): verify against the catalog as it is, and learn from the claim
    statement itself whether it was still current (one round trip fewer); if it was not, raise
    CatalogMoved for the caller to roll back and run the batch again, not optimistic."""
    cached = catalog()
    optimistic = optimistic and pg_connection(session) is not None
    if optimistic:
        seen = cached.versions()   # before any read: another thread may refresh the catalog meanwhile

        def check(versions: dict[str, int]) -> None:
            cached.apply(versions)
            if versions != seen:
                raise scans.CatalogMoved()
    else:
        cached.refresh(session)
    batch = []
    for r in requests:
        found = verify(session, r.code, refresh=False, load_code=False)
        brand_id = found.batch.brand_id if found.batch else None
        batch.append(_Scan(r, found, bool(brand_id) and cached.blacklisted(session, brand_id, r.consumer_id)))
    sightings = [scans.Sighting(s.found, s.request.consumer_id, not s.blacklisted, s.request.lat, s.request.lng,
                                s.request.ip, s.request.at) for s in batch]
    if optimistic and not any(s.found.verdict in LIVE for s in batch):
        check(cached.read_versions(session))   # nothing to claim, so nothing read the counters yet
    for s, outcome in zip(batch, scans.count_and_claim(session, sightings, check=check if optimistic else None)):
        s.outcome = outcome
        store_id = outcome.bound_store_id
        s.bound_store = cached.store(session, store_id) if store_id else None
        s.region = s.bound_store.region_code if s.bound_store else _region_near(session, s.request.lat, s.request.lng)
    writes = Writes(session)
    scans.record(writes, sightings, [s.outcome for s in batch], [s.region for s in batch])
    _earlier_rewards(session, [s for s in batch if not s.outcome.claimed_now and s.found.verdict in LIVE
                               and s.outcome.claimed_by == s.request.consumer_id])
    # Last before the commit: every batch's winners update the same campaign rows, so hold them briefly.
    claimed = [s for s in batch if s.outcome.claimed_now]
    _grant(session, writes, claimed)
    writes.finish()
    for s in claimed:
        if s.outcome.bound_store_id:
            _after_bound_claim(session, s.found, s.outcome, s.request.consumer_id)
    return [_response(session, s) for s in batch]


def _after_bound_claim(session: Session, found, outcome, consumer_id: str) -> None:
    """Hook for what else the first scan of an item bound to a store earns (the store's T+0
    commission). Only bound items: the one-statement path (_everyday) claims unbound codes alone."""
    for receiver in current_app.extensions.get("on_bound_claim", []):
        receiver(session, found=found, outcome=outcome, consumer_id=consumer_id)


def _earlier_rewards(session: Session, repeats: list[_Scan]) -> None:
    """A claimer's rescan shows the rewards its first scan earned."""
    if not repeats:
        return
    by_serial = {s.found.serial: s for s in repeats}
    for coupon in session.scalars(select(Coupon).where(Coupon.serial.in_(list(by_serial))).order_by(Coupon.issued_at)):
        s = by_serial[coupon.serial]
        if coupon.consumer_id == s.request.consumer_id:
            s.rewards.append(coupon)


def _region_near(session: Session, lat: float | None, lng: float | None) -> str | None:
    store = nearest_store(session, lat, lng, REGION_RADIUS_M)
    return store.region_code if store else None


def nearest_store(session: Session, lat, lng, radius_m: float, brand_id: str | None = None) -> Store | None:
    found = stores_near(session, lat, lng, radius_m, brand_id, limit=1)
    return found[0][0] if found else None


def stores_near(session: Session, lat, lng, radius_m: float, brand_id: str | None = None, limit: int = 50):
    """(store, distance_m) within radius, nearest first: a bounding box in SQL, exact distance in Python."""
    if lat is None or lng is None:
        return []
    import math

    dlat = radius_m / 111_320
    dlng = radius_m / max(1.0, 111_320 * math.cos(math.radians(lat)))
    query = select(Store).where(Store.lat.between(lat - dlat, lat + dlat), Store.lng.between(lng - dlng, lng + dlng))
    if brand_id:
        query = query.join(Partnership, and_(Partnership.store_id == Store.id, Partnership.brand_id == brand_id))
    found = [(s, distance_m(lat, lng, s.lat, s.lng)) for s in session.scalars(query.limit(5000))]
    found = sorted([f for f in found if f[1] <= radius_m], key=lambda f: f[1])
    return found[:limit]


def live_campaigns(session: Session, brand_id: str, product_id: str, region: str | None) -> list[Snapshot]:
    now = utcnow()
    return [c for c in catalog().live_campaigns(session, brand_id)
            if c.starts_at <= now < c.ends_at and product_id in c.product_ids
            and (not c.region_codes or (region and covered_by_any(c.region_codes, region)))]


def _grant(session: Session, writes: Writes, claimed: list[_Scan]) -> None:
    """Draw every claimed scan in every live campaign of its product, then take the winners' limits
    campaign by campaign (in id order) and issue the coupons that got through."""
    wins = sorted((w for s in claimed for w in _draws(session, s)), key=lambda w: w.campaign.id)
    rows = {id(w): _coupon(w) for w in wins}
    granted: list[_Win] = []
    to_issue: list[dict] = []
    for _, group in groupby(wins, key=lambda w: w.campaign.id):
        group = list(group)
        if all(_limit_count(w.campaign, w.tier) == 1 for w in group):
            if writes.raw is not None:
                if _grant_all(writes, group, [rows[id(w)] for w in group]):   # taken and issued at once
                    granted += group
                    continue
            elif _take_all(session, group):
                granted += group
                to_issue += [rows[id(w)] for w in group]
                continue
        for w in group:
            try:
                # Only a winner with several limits needs a savepoint to undo the ones already taken.
                with session.begin_nested() if _limit_count(w.campaign, w.tier) > 1 else nullcontext():
                    _take_limits(session, w.campaign, w.scan.request.consumer_id, w.tier, w.cost)
                granted.append(w)
                to_issue.append(rows[id(w)])
            except _NoPrize:
                continue
    for w in sorted(granted, key=lambda w: w.scan.request.at):
        w.scan.rewards.append(Snapshot(**rows[id(w)]))
    if to_issue:
        writes.add(_PG_ISSUE, json_rows(to_issue), _ISSUE, to_issue)


def _draws(session: Session, s: _Scan) -> list[_Win]:
    """The prizes a first scan draws in every live campaign of its product (before any limit)."""
    wins = []
    product = s.found.product
    for campaign in live_campaigns(session, s.found.batch.brand_id, product.id, s.region):
        tier = draw.draw(campaign.seed, s.found.serial, [t["probability"] for t in campaign.tiers])
        if tier is None:
            continue
        reward = campaign.tiers[tier]["reward"]
        store_id = None
        if reward["kind"] == "store_coupon":
            store = s.bound_store or nearest_store(session, s.request.lat, s.request.lng, STORE_COUPON_RADIUS_M,
                                                   campaign.brand_id)
            if store is None:
                continue   # no store to honour it: no prize rather than a coupon nobody can redeem
            store_id = store.id
        wins.append(_Win(s, campaign, tier, reward, _budget_cost(reward, product), store_id))
    return wins


def _coupon(w: _Win) -> dict:
    reward, product = w.reward, w.scan.found.product
    return coupon_row(
        consumer_id=w.scan.request.consumer_id, campaign=w.campaign, serial=w.scan.found.serial, tier=w.tier,
        kind=reward["kind"], value_fen=reward.get("value_fen") or w.cost, budget_fen=w.cost,
        min_spend_fen=reward.get("min_spend_fen") or 0, valid_days=reward.get("valid_days") or 30,
        store_id=w.store_id, product_id=product.id if reward["kind"] == "free_item" else None)


def _limit_count(campaign: Snapshot, tier: int) -> int:
    return (1 + (campaign.per_consumer_daily is not None) + (campaign.per_consumer_total is not None)
            + (campaign.tiers[tier].get("max_count") is not None))


def _budget_cost(reward: dict, product: Snapshot) -> int:
    if reward["kind"] == "brand_coupon":
        return reward["value_fen"]
    if reward["kind"] == "free_item":
        return product.cost_fen if product.cost_fen is not None else product.price_fen
    return 0   # store coupons are the store's own discount; points carry no cash


def _bump(session: Session, model, where, column, limit: int | None) -> bool:
    condition = [where] if limit is None else [where, column < limit]
    stmt = update(model).where(*condition).values({column.key: column + 1}).execution_options(synchronize_session=False)
    return session.execute(stmt).rowcount == 1


def _take_statement(capped: bool):
    c, count, cost = Campaign.__table__.c, bindparam("count"), bindparam("cost")
    conditions = [c.id == bindparam("campaign_id"), c.status == literal_column("'active'"),
                  c.budget_fen - c.committed_fen - c.spent_fen - c.released_fen >= cost]
    if capped:
        conditions.append(c.issued + count <= bindparam("cap"))
    return update(Campaign.__table__).where(*conditions).values(issued=c.issued + count,
                                                                committed_fen=c.committed_fen + cost)


# Built once: building a statement costs more than running it.
_TAKE = {False: _take_statement(False), True: _take_statement(True)}
_ISSUE = insert(Coupon.__table__)
_PG_TAKE = {capped: pg_text(statement) for capped, statement in _TAKE.items()}   # for _PG_GRANT_ALL
_COUPON_COLUMNS = scan_statement.COUPON_COLUMNS
_PG_ISSUE = pg_insert_json(Coupon.__table__, _COUPON_COLUMNS)
# _take_all and the INSERT of its coupons as one statement: the coupons exist only if the UPDATE took.
_PG_GRANT_ALL = {capped: f"WITH took AS ({take} RETURNING id) "
                         + pg_insert_json(Coupon.__table__, _COUPON_COLUMNS, " WHERE EXISTS (SELECT 1 FROM took)",
                                          param="%(rows)s")
                 for capped, take in _PG_TAKE.items()}


def _take_campaign(session: Session, campaign: Snapshot, count: int, cost: int) -> bool:
    """`count` more rewards costing `cost` in all, if the campaign is active and its count cap and
    uncommitted budget allow them all: one conditional UPDATE."""
    params = {"campaign_id": campaign.id, "count": count, "cost": cost, "cap": campaign.max_rewards}
    return session.connection().execute(_TAKE[campaign.max_rewards is not None], params).rowcount == 1


def _grant_all(writes: Writes, group: list[_Win], coupons: list[dict]) -> bool:
    """PostgreSQL: _take_all and the INSERT of the group's coupons in one statement, sent in one round
    trip with the writes queued before it. False (nothing taken or issued) when the campaign refuses."""
    campaign = group[0].campaign
    params = {"campaign_id": campaign.id, "count": len(group), "cost": sum(w.cost for w in group),
              "cap": campaign.max_rewards, "rows": json_array(coupons)}
    return writes.send(_PG_GRANT_ALL[campaign.max_rewards is not None], params).rowcount == len(group)


def _take_all(session: Session, group: list[_Win]) -> bool:
    """The whole batch's prizes of one campaign (whose only limits are its count cap and budget) at once."""
    return _take_campaign(session, group[0].campaign, len(group), sum(w.cost for w in group))


def _take_limits(session: Session, campaign: Snapshot, consumer_id: str, tier: int, cost: int) -> None:
    """Per-consumer caps, tier stock, then count cap and budget: all conditional, in this order."""
    day = utcnow().date().isoformat()
    for period, limit in ((day, campaign.per_consumer_daily), ("total", campaign.per_consumer_total)):
        if limit is None:
            continue
        insert_ignore(session, ConsumerCount.__table__, [{"campaign_id": campaign.id, "consumer_id": consumer_id,
                                                          "period": period, "count": 0}],
                      ["campaign_id", "consumer_id", "period"])
        where = and_(ConsumerCount.campaign_id == campaign.id, ConsumerCount.consumer_id == consumer_id,
                     ConsumerCount.period == period)
        if not _bump(session, ConsumerCount, where, ConsumerCount.count, limit):
            raise _NoPrize()
    max_count = campaign.tiers[tier].get("max_count")
    if max_count is not None:
        insert_ignore(session, TierCount.__table__, [{"campaign_id": campaign.id, "tier": tier, "issued": 0}],
                      ["campaign_id", "tier"])
        where = and_(TierCount.campaign_id == campaign.id, TierCount.tier == tier)
        if not _bump(session, TierCount, where, TierCount.issued, max_count):
            raise _NoPrize()
    if not _take_campaign(session, campaign, 1, cost):
        raise _NoPrize()


def _response(session: Session, s: _Scan) -> dict:
    found, outcome = s.found, s.outcome
    product = found.product if found.verdict in LIVE or found.verdict in ("inactive", "voided") else None
    brand = catalog().brand(session, product.brand_id) if product else None
    body = {
        "verdict": outcome.verdict,
        "scan_count": outcome.scan_count,
        "first_scanned_at": isoformat(outcome.first_scan_at),
        "first_scan_place": _coarse(outcome.first_scan_lat, outcome.first_scan_lng),
        "product": {"id": product.id, "name": product.name, "brand_id": brand.id, "brand_name": brand.name}
        if product else None,
        "store": {"id": s.bound_store.id, "name": s.bound_store.name} if s.bound_store else None,
        "rewards": [describe(c) for c in s.rewards],
        "warning": _warning(outcome, s.request.lat, s.request.lng),
    }
    if s.blacklisted:
        body["notice"] = "Rewards are not available for this account."
    return body


def _coarse(lat, lng):
    return None if lat is None or lng is None else {"lat": round(lat, 2), "lng": round(lng, 2)}


def _warning(outcome, lat, lng) -> dict | None:
    """Counterfeit hints for a repeat scan: scanned many times, or far from where it was first scanned."""
    if outcome.verdict != "genuine_repeat":
        return None
    threshold = current_app.config.get("REPEAT_SCAN_WARNING", 5)
    if outcome.scan_count >= threshold:
        return {"code": "many_scans", "message": f"This code has been scanned {outcome.scan_count} times; "
                                                 "a genuine label is rarely scanned this often. It may be copied."}
    if None not in (lat, lng, outcome.first_scan_lat, outcome.first_scan_lng) and outcome.first_scan_at:
        apart = distance_m(lat, lng, outcome.first_scan_lat, outcome.first_scan_lng)
        if apart > FAR_APART_M and utcnow() - outcome.first_scan_at < FAR_APART_WINDOW:
            return {"code": "far_apart", "message": f"This code was first scanned {apart / 1000:.0f} km away "
                                                    "less than two days ago. The label may be copied."}
    return None
