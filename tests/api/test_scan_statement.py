"""PostgreSQL's one-statement scan batch (loyalty/scanning/statement.py): which batches it writes, and
that when it cannot do the whole job it undoes itself and the general path gives the same
outcome as it would have alone."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from codes.models import Code, Scan
from db import session_scope
from loyalty.models import Coupon
from loyalty.scanning import batch as scan_batch
from loyalty.scanning import statement as scan_statement
from tests.api.test_scan_retry import flush_together
from tests.factories import deposit, scan_campaign


@pytest.fixture
def paths(monkeypatch):
    """What each batch ran: 'statement' (with the serials it created), 'refused', 'general' (scans)."""
    seen = []
    real_run, real_batch = scan_statement.run, scan_batch._scan_batch

    def run(raw, versions, scans, wins, *rest):
        try:
            created = real_run(raw, versions, scans, wins, *rest)
        except scan_statement.Refused:
            seen.append(("refused", len(scans)))
            raise
        seen.append(("statement", sorted(created)))
        return created

    def general(session, requests, optimistic):
        seen.append(("general", len(requests)))
        return real_batch(session, requests, optimistic)

    monkeypatch.setattr(scan_statement, "run", run)
    monkeypatch.setattr(scan_batch, "_scan_batch", general)
    return seen


def shop(api, budget_fen=100_000, **campaign_fields):
    brand = api.brand()
    deposit(api, brand, 1_000_000)
    batch = api.batch(brand, quantity=5)
    campaign = scan_campaign(api, brand, [batch["product"]["id"]], budget_fen=budget_fen, **campaign_fields)
    return brand, api.codes(brand, batch), campaign


def state(app, serials):
    with app.app_context(), session_scope() as session:
        claimed = dict(session.execute(select(Code.serial, Code.claimed_by).where(Code.serial.in_(serials))).all())
        scans = session.scalar(select(func.count()).select_from(Scan).where(Scan.serial.in_(serials)))
        coupons = session.scalar(select(func.count()).select_from(Coupon).where(Coupon.serial.in_(serials)))
    return claimed, scans, coupons


def test_a_batch_of_first_scans_is_claimed_recorded_and_rewarded_by_one_statement(api, app, paths, postgres_only):
    brand, codes, campaign = shop(api)
    phone = api.consumer()
    serials = [c["serial"] for c in codes[:3]]
    jobs = flush_together(app, phone.id, [c["url"] for c in codes[:3]], "203.0.113.20")
    assert paths == [("statement", serials)]
    assert [job.result["verdict"] for job in jobs] == ["genuine"] * 3
    assert all(len(job.result["rewards"]) == 1 for job in jobs)
    claimed, scans, coupons = state(app, serials)
    assert claimed == dict.fromkeys(serials, phone.id) and scans == 3 and coupons == 3
    live = api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=brand, expect=200).json
    assert live["issued"] == 3 and live["committed_fen"] == 1500
    wallet = {c["code"] for c in api.get("/api/v1/me/coupons", who=phone, expect=200).json["items"]}
    assert wallet == {job.result["rewards"][0]["code"] for job in jobs}


def test_a_campaign_that_cannot_take_every_prize_undoes_the_statement_and_the_general_path_gives_what_fits(
    api, app, paths, postgres_only
):
    brand, codes, campaign = shop(api, budget_fen=1000)  # two 500-fen coupons, three winners
    phone = api.consumer()
    serials = [c["serial"] for c in codes[:3]]
    jobs = flush_together(app, phone.id, [c["url"] for c in codes[:3]], "203.0.113.21")
    assert paths == [("refused", 3), ("general", 3)]
    assert [len(job.result["rewards"]) for job in jobs] == [1, 1, 0]
    claimed, scans, coupons = state(app, serials)
    assert claimed == dict.fromkeys(serials, phone.id), "every scan claimed once, by the general path"
    assert scans == 3 and coupons == 2, "the refused statement left no scan row and no coupon"
    live = api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=brand, expect=200).json
    assert live["issued"] == 2 and live["committed_fen"] == 1000 and live["remaining_budget_fen"] == 0

    paths.clear()  # the campaign is remembered short of prizes: its next winner goes straight to the general path
    later = flush_together(app, phone.id, [codes[3]["url"]], "203.0.113.21")
    assert paths == [("general", 1)] and later[0].result["rewards"] == []

    paths.clear()  # until the campaigns change (here a pause and a resume): then the statement is tried again
    for action in ("pause", "resume"):
        api.post(f"/api/v1/brand/campaigns/{campaign['id']}/{action}", who=brand, expect=200)
    flush_together(app, phone.id, [codes[4]["url"]], "203.0.113.21")
    assert paths == [("refused", 1), ("general", 1)]


def test_a_code_that_already_has_a_row_is_left_to_the_general_path_while_the_rest_of_its_batch_is_written(
    api, app, paths, postgres_only
):
    _, codes, _ = shop(api)
    first, second = api.consumer(), api.consumer()
    flush_together(app, first.id, [codes[0]["url"]], "203.0.113.22")
    paths.clear()
    jobs = flush_together(app, second.id, [codes[0]["url"], codes[1]["url"]], "203.0.113.22")
    assert paths == [("statement", [codes[1]["serial"]]), ("general", 1)]
    repeat, fresh = (job.result for job in jobs)
    assert repeat["verdict"] == "genuine_repeat" and repeat["scan_count"] == 2 and repeat["rewards"] == []
    assert fresh["verdict"] == "genuine" and len(fresh["rewards"]) == 1
    claimed, scans, coupons = state(app, [codes[0]["serial"], codes[1]["serial"]])
    assert claimed == {codes[0]["serial"]: first.id, codes[1]["serial"]: second.id}
    assert scans == 3 and coupons == 2


def test_scans_under_a_campaign_with_per_consumer_caps_take_the_general_path(api, app, paths, postgres_only):
    brand, codes, campaign = shop(api, per_consumer_total=1)
    phone = api.consumer()
    jobs = flush_together(app, phone.id, [c["url"] for c in codes[:2]], "203.0.113.23")
    assert paths == [("general", 2)]
    assert sorted(len(job.result["rewards"]) for job in jobs) == [0, 1]
    live = api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=brand, expect=200).json
    assert live["issued"] == 1


def test_when_the_general_path_fails_after_the_statement_committed_only_its_own_scans_are_retried(
    api, app, paths, monkeypatch, postgres_only
):
    """A batch of a first scan (the statement) and a rescan (the general path), whose general path
    fails once: the first scan keeps its committed answer and is neither recorded nor counted twice."""
    _, codes, _ = shop(api)
    first, second = api.consumer(), api.consumer()
    flush_together(app, first.id, [codes[0]["url"]], "203.0.113.24")
    paths.clear()
    real_general, failures = scan_batch._general, []

    def fail_once(requests, optimistic=True):
        if not failures:
            failures.append(len(requests))
            raise RuntimeError("simulated failure of the second transaction")
        return real_general(requests, optimistic)

    monkeypatch.setattr(scan_batch, "_general", fail_once)
    jobs = flush_together(app, second.id, [codes[0]["url"], codes[1]["url"]], "203.0.113.24")
    # the rescan, retried alone, tries the statement again (which creates nothing) and then the general path
    assert failures == [1] and paths == [("statement", [codes[1]["serial"]]), ("statement", []), ("general", 1)]
    repeat, fresh = (job.result for job in jobs)
    assert fresh["verdict"] == "genuine" and fresh["scan_count"] == 1 and len(fresh["rewards"]) == 1
    assert repeat["verdict"] == "genuine_repeat" and repeat["scan_count"] == 2
    with app.app_context(), session_scope() as session:
        fresh_scans = session.scalars(select(Scan.verdict).where(Scan.serial == codes[1]["serial"])).all()
        assert fresh_scans == ["genuine"] and session.get(Code, codes[1]["serial"]).scan_count == 1


def test_scans_after_the_database_dropped_the_apps_connections_are_answered_on_fresh_ones(
    api, app, paths, postgres_only
):
    """A restarted or failed-over database drops every pooled connection: the batch that finds one
    dead runs once more on new connections instead of failing its scans (500)."""
    import psycopg

    import db
    from pgfast import pg_autocommit

    _, codes, _ = shop(api)
    phone = api.consumer()
    api.post("/api/v1/scans", {"code": codes[0]["token"]}, who=phone, expect=200)
    dsn = app.config["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")

    def drop_connections():  # from outside the app's pools: every connection they hold dies
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

    with app.app_context(), pg_autocommit(), pg_autocommit():  # two pooled: the retry must not take the other
        pass
    try:
        drop_connections()
        forged = api.post("/api/v1/scans", {"code": "not-a-code"}, who=phone, expect=200).json  # general path only
        drop_connections()
        first = api.post("/api/v1/scans", {"code": codes[1]["token"]}, who=phone, expect=200).json  # the statement
    finally:
        db.dispose(app)  # whatever happened, no dead connection is left to the tests after this one

    assert forged["verdict"] == "forged"
    assert first["verdict"] == "genuine" and len(first["rewards"]) == 1
    assert state(app, [codes[1]["serial"]]) == ({codes[1]["serial"]: phone.id}, 1, 1)
    assert paths[-1] == ("statement", [codes[1]["serial"]])


def test_the_statement_commits_with_the_given_synchronous_commit_for_its_own_transaction_only(app, postgres_only):
    """The setting is transaction-local (set_config(..., true)): it holds for the statement's commit and
    is gone afterwards, so nothing else that runs on the pooled connection commits asynchronously."""
    import psycopg

    dsn = app.config["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:  # not autocommit: the transaction stays open to be looked at
        server_default = conn.execute("SHOW synchronous_commit").fetchone()[0]
        versions = conn.execute(
            "SELECT coalesce(jsonb_object_agg(area, version), '{}'::jsonb) FROM cache_versions"
        ).fetchone()[0]
        conn.rollback()
        for value in ("off", "local", "on"):
            assert scan_statement.run(conn, versions, [], [], value) == set()
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == value
            conn.rollback()
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == server_default
            conn.rollback()


def test_first_scans_pass_the_apps_scan_synchronous_commit_to_the_statement(api, app, monkeypatch, postgres_only):
    _, codes, _ = shop(api)
    phone = api.consumer()
    passed = []
    real_run = scan_statement.run

    def run(raw, versions, scans, wins, synchronous_commit):
        passed.append(synchronous_commit)
        return real_run(raw, versions, scans, wins, synchronous_commit)

    monkeypatch.setattr(scan_statement, "run", run)
    assert app.config["SCAN_SYNCHRONOUS_COMMIT"] == "off"  # the default (README, "Durability of first scans")
    api.post("/api/v1/scans", {"code": codes[0]["token"]}, who=phone, expect=200)
    monkeypatch.setitem(app.config, "SCAN_SYNCHRONOUS_COMMIT", "on")
    api.post("/api/v1/scans", {"code": codes[1]["token"]}, who=phone, expect=200)
    assert passed == ["off", "on"]
    assert state(app, [codes[0]["serial"], codes[1]["serial"]])[1:] == (2, 2)


def test_an_unknown_scan_synchronous_commit_stops_the_app_at_startup_naming_the_setting(database_url):
    from app import create_app

    with pytest.raises(ValueError, match="SCAN_SYNCHRONOUS_COMMIT must be one of on, off"):
        create_app({"TESTING": True, "DATABASE_URL": database_url, "SCAN_SYNCHRONOUS_COMMIT": "sometimes"})
