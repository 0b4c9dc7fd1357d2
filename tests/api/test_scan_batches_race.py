"""Group-committed scans racing across two workers (PostgreSQL, real threads).

Two app instances over one database stand for two gunicorn workers: each has its own group
commit and catalog, so their batches race in the database. Forty phones scan at once: some
the same code, most distinct codes, under a live campaign whose budget pays fewer prizes than
there are first scans. Every claim, coupon, counter and ledger entry must still be exact.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from sqlalchemy import func, select

import db
from bench.support import all_at_once
from codes.models import Code, Scan
from loyalty.models import Campaign, Coupon
from storefront.ledger import accounts, audit
from tests.factories import deposit, scan_campaign

pytestmark = pytest.mark.usefixtures("postgres_only")  # two workers' row locks: PostgreSQL's

PRIZE_FEN = 500
PRIZES = 7


def race(apps, plan, consumers):
    """plan[i] = code token phone i scans, through apps[i % len(apps)], all released at once."""

    def send(i, client):
        r = client.post("/api/v1/scans", json={"code": plan[i]}, headers=consumers[i].headers)
        return r.status_code, r.get_json(silent=True) or r.get_data(as_text=True)

    return all_at_once(len(plan), lambda i: apps[i % len(apps)].test_client(), send)


def mixed_race(api):
    """A live campaign paying PRIZES prizes and 40 phones: a hot code scanned 10 times, a warm one 6
    times, 24 codes once each, interleaved. Returns (campaign, codes, plan, consumers)."""
    brand = api.brand()
    deposit(api, brand, 1_000_000)
    batch = api.batch(brand, quantity=30)
    codes = api.codes(brand, batch)
    tiers = [{"probability": 1.0, "reward": {"kind": "brand_coupon", "value_fen": PRIZE_FEN, "valid_days": 30}}]
    campaign = scan_campaign(api, brand, [batch["product"]["id"]], tiers=tiers, budget_fen=PRIZES * PRIZE_FEN)

    hot, warm = codes[0]["token"], codes[1]["token"]
    plan = [hot] * 10 + [warm] * 6 + [c["token"] for c in codes[2:26]]  # 40 scans, 26 distinct codes
    plan = plan[::2] + plan[1::2]  # interleave, so both workers get scans of the hot and warm codes
    consumers = [api.consumer() for _ in plan]
    assert len(plan) == 40 and len(set(plan)) == 26 > PRIZES
    return campaign, codes, plan, consumers


def assert_exact_outcome(app, campaign, codes, plan, consumers, results):
    """Every code claimed once by one of its scanners and its scans counted, every prize the budget
    allows given once to a claimant and no more, counters and ledger exact."""
    serial_of = {c["token"]: c["serial"] for c in codes}
    distinct = set(plan)
    assert all(status == 200 for status, _ in results), [r for r in results if r[0] != 200][:3]
    by_code = defaultdict(list)
    for token, (_, body) in zip(plan, results):
        by_code[token].append(body)
    for token, bodies in by_code.items():
        assert sorted(b["scan_count"] for b in bodies) == list(range(1, len(bodies) + 1)), token
        assert [b["verdict"] for b in bodies].count("genuine") == 1, f"{token}: not exactly one first scan"
        assert sum(len(b["rewards"]) for b in bodies) <= 1, f"{token}: rewarded twice"
    rewarded = [
        (consumers[i].id, body["rewards"][0]["coupon_id"]) for i, (_, body) in enumerate(results) if body["rewards"]
    ]
    assert len(rewarded) == PRIZES, "every prize the budget allows was given, and no more"

    with db.session_scope(app) as session:
        serials = [serial_of[t] for t in distinct]
        rows = {c.serial: c for c in session.scalars(select(Code).where(Code.serial.in_(serials)))}
        assert set(rows) == set(serials)
        consumer_ids = {c.id for c in consumers}
        for serial, row in rows.items():
            scans_of = [i for i, t in enumerate(plan) if serial_of[t] == serial]
            assert row.claimed_by in {consumers[i].id for i in scans_of}, f"{serial}: claimed by a non-scanner"
            assert row.scan_count == len(scans_of)
        claims = Counter(session.scalars(select(Scan.serial).where(Scan.serial.in_(serials), Scan.claimed.is_(True))))
        assert claims == Counter(serials), "exactly one claiming scan per code"
        assert session.scalar(select(func.count()).select_from(Scan).where(Scan.serial.in_(serials))) == 40

        coupons = list(session.scalars(select(Coupon).where(Coupon.campaign_id == campaign["id"])))
        assert len(coupons) == PRIZES
        per_code = Counter(c.serial for c in coupons)
        assert max(per_code.values()) == 1, "two coupons for one (campaign, serial)"
        for c in coupons:
            assert c.consumer_id == rows[c.serial].claimed_by, "a coupon went to someone other than the claimant"
            assert c.consumer_id in consumer_ids
        assert sorted((c.consumer_id, c.id) for c in coupons) == sorted(rewarded)

        row = session.get(Campaign, campaign["id"])
        spent_on_coupons = sum(c.budget_fen for c in coupons)
        assert spent_on_coupons <= row.budget_fen, "overspent"
        assert row.committed_fen == spent_on_coupons == PRIZES * PRIZE_FEN
        assert row.issued == PRIZES
        assert (
            accounts.balance(session, ("campaign", campaign["id"], "reserve"))
            == row.budget_fen - row.spent_fen - row.released_fen
        )
        assert audit.verify(session) == []


def test_two_workers_racing_group_committed_scans_claim_once_reward_once_and_never_overspend(api, app, second_app):
    campaign, codes, plan, consumers = mixed_race(api)

    results = race([app, second_app], plan, consumers)

    assert_exact_outcome(app, campaign, codes, plan, consumers, results)


def test_two_workers_racing_scans_of_one_code_make_one_claim_and_count_every_scan(api, app, second_app):
    brand = api.brand()
    deposit(api, brand, 100_000)
    batch = api.batch(brand, quantity=3)
    codes = api.codes(brand, batch)
    campaign = scan_campaign(api, brand, [batch["product"]["id"]], budget_fen=10_000)
    plan = [codes[0]["token"]] * 40
    consumers = [api.consumer() for _ in plan]

    results = race([app, second_app], plan, consumers)

    assert all(status == 200 for status, _ in results), [r for r in results if r[0] != 200][:3]
    assert sorted(body["scan_count"] for _, body in results) == list(range(1, 41))
    winners = [i for i, (_, body) in enumerate(results) if body["rewards"]]
    assert len(winners) == 1
    assert [body["verdict"] for _, body in results].count("genuine") == 1
    got = api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=brand, expect=200).json
    assert (got["issued"], got["committed_fen"]) == (1, 500)
    with db.session_scope(app) as session:
        code = session.get(Code, codes[0]["serial"])
        assert code.scan_count == 40 and code.claimed_by == consumers[winners[0]].id
        assert audit.verify(session) == []
