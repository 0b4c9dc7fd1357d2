"""The scan path's per-process catalog (codes/catalog.py) never acts on stale state.

Each test scans first, so the process has cached the key, the batch's ranges, the brand's
campaigns and blacklist; then changes one of them through the API; then scans again and
expects the change at once. The last tests run two app instances over one database (two
gunicorn workers): a change made through one is seen by a scan the other serves.
"""

from __future__ import annotations

import pytest

import db
from codes.catalog import catalog
from tests.factories import Api, deposit, scan, scan_campaign

EVERY_SCAN_WINS = [{"probability": 1.0, "reward": {"kind": "brand_coupon", "value_fen": 500, "valid_days": 30}}]


@pytest.fixture
def shop(api):
    """A funded brand, an activated batch of 10 and a live campaign in which every first scan wins 5 yuan."""
    brand = api.brand()
    deposit(api, brand, 1_000_000)
    batch = api.batch(brand, quantity=10)
    campaign = scan_campaign(api, brand, [batch["product"]["id"]], tiers=EVERY_SCAN_WINS, budget_fen=100_000)
    return brand, batch, api.codes(brand, batch), campaign


def campaign_state(api, brand, campaign) -> dict:
    return api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=brand, expect=200).json


def void(api, brand, batch, serial, reason="recall"):
    api.post(
        f"/api/v1/brand/batches/{batch['id']}/void",
        {"from": serial, "to": serial, "reason": reason},
        who=brand,
        expect=200,
    )


def set_campaign(api, brand, campaign, action):
    return api.post(f"/api/v1/brand/campaigns/{campaign['id']}/{action}", who=brand, expect=200).json


def unblacklist(api, brand, consumer):
    r = api.client.delete(f"/api/v1/brand/blacklist/{consumer.id}", headers=brand.headers)
    assert r.status_code == 204, r.get_data(as_text=True)


def coupon_count(api, consumer) -> int:
    return len(api.get("/api/v1/me/coupons", who=consumer, expect=200).json["items"])


# --- one process --------------------------------------------------------------------------------------


def test_voiding_a_range_after_the_batch_was_scanned_makes_the_next_scan_say_voided_without_reward(api, app, shop):
    brand, batch, codes, campaign = shop
    first = scan(api, api.consumer(), codes[0]["token"]).json
    assert (first["verdict"], len(first["rewards"])) == ("genuine", 1)
    assert batch["id"] in catalog(app)._ranges, "precondition: the batch's ranges are cached"

    void(api, brand, batch, codes[1]["serial"])

    consumer = api.consumer()
    body = scan(api, consumer, codes[1]["token"]).json
    assert body["verdict"] == "voided" and body["rewards"] == []
    assert coupon_count(api, consumer) == 0
    assert scan(api, api.consumer(), codes[2]["token"]).json["verdict"] == "genuine", "only the voided code changed"
    assert campaign_state(api, brand, campaign)["issued"] == 2


def test_revoking_the_signing_key_after_a_scan_makes_the_next_scan_say_revoked_key(api, shop):
    brand, batch, codes, campaign = shop
    assert scan(api, api.consumer(), codes[0]["token"]).json["verdict"] == "genuine"

    api.post(f"/api/v1/brand/keys/{batch['key_id']}/revoke", who=brand, expect=200)

    consumer = api.consumer()
    body = scan(api, consumer, codes[1]["token"]).json
    assert body["verdict"] == "revoked_key" and body["rewards"] == []
    assert scan(api, api.consumer(), codes[0]["token"]).json["verdict"] == "revoked_key", "also an already scanned code"
    assert campaign_state(api, brand, campaign)["issued"] == 1


def test_activating_more_of_a_batch_turns_a_code_that_scanned_inactive_into_genuine(api):
    brand = api.brand()
    deposit(api, brand, 100_000)
    batch = api.batch(brand, quantity=10, activate=False)
    codes = api.codes(brand, batch)
    scan_campaign(api, brand, [batch["product"]["id"]], tiers=EVERY_SCAN_WINS, budget_fen=10_000)
    s0 = batch["serial_from"]
    api.post(f"/api/v1/brand/batches/{batch['id']}/activate", {"from": s0, "to": s0 + 2}, who=brand, expect=200)
    assert scan(api, api.consumer(), codes[0]["token"]).json["verdict"] == "genuine"
    consumer = api.consumer()
    inactive = scan(api, consumer, codes[5]["token"]).json
    assert inactive["verdict"] == "inactive" and inactive["rewards"] == []

    api.post(f"/api/v1/brand/batches/{batch['id']}/activate", {"from": s0 + 3, "to": s0 + 9}, who=brand, expect=200)

    body = scan(api, consumer, codes[5]["token"]).json
    assert body["verdict"] == "genuine" and body["scan_count"] == 1
    assert len(body["rewards"]) == 1, "the first live scan claims the code's reward"


def test_pausing_a_campaign_stops_rewards_at_once_and_resuming_brings_them_back(api, shop):
    brand, _, codes, campaign = shop
    won = scan(api, api.consumer(), codes[0]["token"]).json
    assert len(won["rewards"]) == 1, "precondition: the live campaign is cached and every code wins"

    assert set_campaign(api, brand, campaign, "pause")["status"] == "paused"
    paused = api.consumer()
    body = scan(api, paused, codes[1]["token"]).json
    assert body["verdict"] == "genuine" and body["rewards"] == []
    assert coupon_count(api, paused) == 0

    assert set_campaign(api, brand, campaign, "resume")["status"] == "active"
    resumed = scan(api, api.consumer(), codes[2]["token"]).json
    assert resumed["verdict"] == "genuine" and len(resumed["rewards"]) == 1
    assert resumed["rewards"][0]["campaign_id"] == campaign["id"]
    assert campaign_state(api, brand, campaign)["issued"] == 2


def test_ending_a_campaign_stops_rewards_at_once(api, shop):
    brand, _, codes, campaign = shop
    assert len(scan(api, api.consumer(), codes[0]["token"]).json["rewards"]) == 1

    ended = set_campaign(api, brand, campaign, "end")
    assert ended["status"] == "ended"

    body = scan(api, api.consumer(), codes[1]["token"]).json
    assert body["verdict"] == "genuine" and body["rewards"] == []
    state = campaign_state(api, brand, campaign)
    assert (state["issued"], state["committed_fen"]) == (1, 500)


def test_ending_a_paused_campaign_keeps_rewards_stopped(api, shop):
    brand, _, codes, campaign = shop
    assert len(scan(api, api.consumer(), codes[0]["token"]).json["rewards"]) == 1
    set_campaign(api, brand, campaign, "pause")
    assert scan(api, api.consumer(), codes[1]["token"]).json["rewards"] == []
    set_campaign(api, brand, campaign, "end")
    assert scan(api, api.consumer(), codes[2]["token"]).json["rewards"] == []
    assert api.post(f"/api/v1/brand/campaigns/{campaign['id']}/resume", who=brand).status_code == 409


def test_a_campaign_created_after_scans_rewards_the_next_first_scan(api, app):
    brand = api.brand()
    deposit(api, brand, 100_000)
    batch = api.batch(brand, quantity=5)
    codes = api.codes(brand, batch)
    before = scan(api, api.consumer(), codes[0]["token"]).json
    assert before["verdict"] == "genuine" and before["rewards"] == []
    assert catalog(app).cache("campaigns", "live").get(brand.id) == (), (
        "precondition: 'no campaigns' is cached for the brand"
    )

    campaign = scan_campaign(api, brand, [batch["product"]["id"]], tiers=EVERY_SCAN_WINS, budget_fen=10_000)

    consumer = api.consumer()
    body = scan(api, consumer, codes[1]["token"]).json
    assert body["verdict"] == "genuine"
    assert [(r["campaign_id"], r["value_fen"]) for r in body["rewards"]] == [(campaign["id"], 500)]
    assert coupon_count(api, consumer) == 1


def test_blacklisting_a_consumer_stops_their_rewards_at_once_and_removing_them_restores_rewards(api, shop):
    brand, _, codes, campaign = shop
    consumer = api.consumer()
    first = scan(api, consumer, codes[0]["token"]).json
    assert len(first["rewards"]) == 1 and "notice" not in first

    api.post("/api/v1/brand/blacklist", {"consumer_id": consumer.id, "reason": "scan farm"}, who=brand, expect=201)

    blocked = scan(api, consumer, codes[1]["token"]).json
    assert blocked["verdict"] == "genuine" and blocked["rewards"] == []
    assert blocked["notice"] == "Rewards are not available for this account."
    assert coupon_count(api, consumer) == 1
    assert len(scan(api, api.consumer(), codes[1]["token"]).json["rewards"]) == 1, (
        "the blacklisted scan did not take the claim"
    )

    unblacklist(api, brand, consumer)

    again = scan(api, consumer, codes[2]["token"]).json
    assert again["verdict"] == "genuine" and len(again["rewards"]) == 1 and "notice" not in again
    assert coupon_count(api, consumer) == 2
    assert campaign_state(api, brand, campaign)["issued"] == 3


# --- two workers over one database -------------------------------------------------------------------


def test_a_void_made_through_one_worker_is_seen_by_a_scan_the_other_worker_serves(api, second_app, shop):
    brand, batch, codes, _campaign = shop
    other = Api(second_app, second_app.test_client())
    assert scan(other, api.consumer(), codes[0]["token"]).json["verdict"] == "genuine"
    assert batch["id"] in catalog(second_app)._ranges, "precondition: worker B cached the batch's ranges"

    void(api, brand, batch, codes[1]["serial"])  # through worker A

    body = scan(other, api.consumer(), codes[1]["token"]).json
    assert body["verdict"] == "voided" and body["rewards"] == []
    assert scan(other, api.consumer(), codes[2]["token"]).json["verdict"] == "genuine"


def test_a_key_revoked_through_one_worker_is_seen_by_a_scan_the_other_worker_serves(api, second_app, shop):
    brand, batch, codes, _ = shop
    other = Api(second_app, second_app.test_client())
    assert scan(other, api.consumer(), codes[0]["token"]).json["verdict"] == "genuine"

    api.post(f"/api/v1/brand/keys/{batch['key_id']}/revoke", who=brand, expect=200)

    assert scan(other, api.consumer(), codes[1]["token"]).json["verdict"] == "revoked_key"


def test_a_batch_verified_against_a_stale_catalog_is_run_again_and_leaves_one_scan_and_no_claim(
    api, app, second_app, shop
):
    """On PostgreSQL a batch is verified against the catalog as it is, and its one statement reads
    the counters: when they moved, the statement undoes itself and the batch runs again on the
    general path, which rereads the catalog. What is left is that second attempt alone: one scan
    row, no claim, no coupon, the right verdict."""
    from sqlalchemy import select

    from codes.models import Code, Scan
    from loyalty.scanning import batch as scan_batch
    from loyalty.scanning import statement as scan_statement

    brand, batch, codes, _ = shop
    other = Api(second_app, second_app.test_client())
    assert scan(other, api.consumer(), codes[0]["token"]).json["verdict"] == "genuine"
    api.post(f"/api/v1/brand/keys/{batch['key_id']}/revoke", who=brand, expect=200)  # through worker A

    runs = []
    real_batch, real_statement = scan_batch._scan_batch, scan_statement.run

    def counting(session, requests, optimistic):
        runs.append(f"general, optimistic={optimistic}")
        return real_batch(session, requests, optimistic)

    def statement(*args):
        try:
            return real_statement(*args)
        except scan_statement.Refused:
            runs.append("statement refused")
            raise

    phone = api.consumer()
    scan_batch._scan_batch, scan_statement.run = counting, statement
    try:
        body = scan(other, phone, codes[1]["token"]).json
    finally:
        scan_batch._scan_batch, scan_statement.run = real_batch, real_statement
    assert body["verdict"] == "revoked_key" and body["rewards"] == []
    if db.is_postgres(db.engine(app)):
        assert runs == ["statement refused", "general, optimistic=False"], "the stale attempt was not run again"
    with app.app_context(), db.session_scope() as session:
        assert session.scalars(select(Scan.verdict).where(Scan.serial == codes[1]["serial"])).all() == ["revoked_key"]
        assert session.get(Code, codes[1]["serial"]) is None
    assert coupon_count(api, phone) == 0


def _refreshing_meanwhile(real):
    """Wrap a scan-path step so that, right after it, another request thread of the same process
    refreshes the catalog (as the landing page's or a brand endpoint's verify() does)."""

    def step(*args, **kwargs):
        found = real(*args, **kwargs)
        with db.session_scope() as other:
            catalog().refresh(other)
        return found

    return step


def test_a_catalog_refresh_by_another_thread_during_a_batch_cannot_let_a_stale_claim_commit(
    api, app, shop, monkeypatch, postgres_only
):
    """PostgreSQL's optimistic batches: a batch verified against the catalog before a void, while
    another thread refreshes the catalog before the claim, must still notice that what it verified
    against was stale. (On SQLite every batch refreshes first.)"""
    from loyalty.scanning import request as scan_request  # where both paths call verify

    brand, batch, codes, _ = shop
    assert scan(api, api.consumer(), codes[0]["token"]).json["verdict"] == "genuine"
    void(api, brand, batch, codes[1]["serial"])
    monkeypatch.setattr(scan_request, "verify", _refreshing_meanwhile(scan_request.verify))
    phone = api.consumer()
    body = scan(api, phone, codes[1]["token"]).json
    assert body["verdict"] == "voided" and body["rewards"] == []
    assert coupon_count(api, phone) == 0


def test_a_catalog_refresh_by_another_thread_during_a_batch_with_nothing_to_claim_is_noticed_too(
    api, monkeypatch, postgres_only
):
    """The same for a batch whose every scan was verified as not live (nothing to claim)."""
    from loyalty.scanning import request as scan_request  # where both paths call verify

    brand = api.brand()
    batch = api.batch(brand, quantity=10, activate=False)
    codes = api.codes(brand, batch)
    s0 = batch["serial_from"]
    api.post(f"/api/v1/brand/batches/{batch['id']}/activate", {"from": s0, "to": s0}, who=brand, expect=200)
    assert scan(api, api.consumer(), codes[5]["token"]).json["verdict"] == "inactive"
    api.post(f"/api/v1/brand/batches/{batch['id']}/activate", {"from": s0 + 1, "to": s0 + 9}, who=brand, expect=200)
    monkeypatch.setattr(scan_request, "verify", _refreshing_meanwhile(scan_request.verify))
    assert scan(api, api.consumer(), codes[5]["token"]).json["verdict"] == "genuine"


def test_pause_resume_and_blacklist_made_through_one_worker_apply_to_scans_the_other_worker_serves(
    api, second_app, shop
):
    brand, _, codes, campaign = shop
    other = Api(second_app, second_app.test_client())
    consumer = api.consumer()
    assert len(scan(other, consumer, codes[0]["token"]).json["rewards"]) == 1
    assert catalog(second_app).cache("campaigns", "live").get(brand.id), (
        "precondition: worker B cached the live campaign"
    )

    set_campaign(api, brand, campaign, "pause")
    assert scan(other, api.consumer(), codes[1]["token"]).json["rewards"] == []
    assert catalog(second_app).cache("campaigns", "live").get(brand.id) == (), "worker B now caches 'no live campaign'"

    set_campaign(api, brand, campaign, "resume")
    assert len(scan(other, api.consumer(), codes[2]["token"]).json["rewards"]) == 1, (
        "worker B saw the resume made through worker A"
    )

    api.post("/api/v1/brand/blacklist", {"consumer_id": consumer.id, "reason": "farm"}, who=brand, expect=201)
    blocked = scan(other, consumer, codes[3]["token"]).json
    assert blocked["rewards"] == [] and "notice" in blocked

    unblacklist(api, brand, consumer)
    assert len(scan(other, consumer, codes[4]["token"]).json["rewards"]) == 1

    set_campaign(api, brand, campaign, "end")
    assert scan(other, api.consumer(), codes[5]["token"]).json["rewards"] == []
    assert campaign_state(api, brand, campaign)["issued"] == 3


def test_a_campaign_created_through_one_worker_rewards_scans_the_other_worker_serves(api, second_app):
    brand = api.brand()
    deposit(api, brand, 100_000)
    batch = api.batch(brand, quantity=4)
    codes = api.codes(brand, batch)
    other = Api(second_app, second_app.test_client())
    assert scan(other, api.consumer(), codes[0]["token"]).json["rewards"] == []

    scan_campaign(api, brand, [batch["product"]["id"]], tiers=EVERY_SCAN_WINS, budget_fen=10_000)

    assert len(scan(other, api.consumer(), codes[1]["token"]).json["rewards"]) == 1
