"""Referral (邀请 / 分销) through the API: codes and links, binding once and only as a new consumer,
referral campaigns rewarding the referrer (and its referrer, never a third) for a referee's first
scan or first paid order, with a coupon or a commission; commissions as money that settles, is
reversed by refunds and is paid out; the budget never overspent; a killed reward job rewards once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

import db
from bench.support import all_at_once
from loyalty.referral import rewards as reward_service
from storefront.ledger.models import Settlement
from tests.factories import deposit, notify_payment, refund_order, scan
from tests.money import verify


def run_due(app):
    return app.test_cli_runner().invoke(args=["jobs", "run-due"]).output


def settle_everything(app):
    with db.session_scope(app) as session:
        for row in session.scalars(select(Settlement).where(Settlement.status == "pending")):
            row.due_at -= timedelta(days=30)
    run_due(app)


def my_referral(api, consumer):
    return api.get("/api/v1/me/referral", who=consumer, expect=200).json


def bind(api, consumer, referrer, expect=200):
    code = referrer if isinstance(referrer, str) else my_referral(api, referrer)["code"]
    return api.post("/api/v1/me/referrer", {"code": code}, who=consumer, expect=expect)


def balance(api, consumer):
    return api.get("/api/v1/me/balance", who=consumer, expect=200).json


def referral_campaign(api, brand, trigger="first_scan", reward=None, budget_fen=100_000, expect=201, **fields):
    now = datetime.now(UTC)
    body = {
        "type": "referral",
        "name": "邀请好友得奖励",
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(days=30)).isoformat(),
        "budget_fen": budget_fen,
        "trigger": trigger,
        "reward": reward or {"kind": "commission", "value_fen": 500},
        **fields,
    }
    return api.post("/api/v1/brand/campaigns", body, who=brand, expect=expect)


def rewards_of(api, brand, campaign=None):
    path = "/api/v1/brand/referrals" + (f"?campaign_id={campaign['id']}" if campaign else "")
    return api.get(path, who=brand, expect=200).json["items"]


@pytest.fixture
def shop(api):
    """A funded brand with a partner store, a 10-yuan product, a batch of its codes, and a split rule
    giving the store 10%, the platform 5%, the referrer 3% and its referrer 1%."""
    brand = api.brand("Bright Dairy")
    deposit(api, brand, 1_000_000)
    store = api.store(region_code="310101", partner_of=brand)
    product = api.product(brand, price_fen=1000, cost_fen=600)
    batch = api.batch(brand, product, quantity=40)
    rule = {"store_percent": 10, "platform_percent": 5, "referrer_percent": 3, "referrer2_percent": 1}
    api.post("/api/v1/brand/split-rules", rule, who=brand, expect=201)
    return {"brand": brand, "store": store, "product": product, "codes": api.codes(brand, batch)}


def paid_order(api, shop, consumer, quantity=1):
    body = {"store_id": shop["store"].id, "items": [{"product_id": shop["product"]["id"], "quantity": quantity}]}
    order = api.post("/api/v1/orders", body, who=consumer, expect=201).json
    notify_payment(api, order, expect=200)
    return order


# --- codes, links and the invitation page --------------------------------------------------------


def test_every_consumer_gets_one_short_unguessable_code_and_a_link_on_first_ask(api):
    alice, bob = api.consumer(), api.consumer()
    mine = my_referral(api, alice)
    assert my_referral(api, alice) == mine, "made once, then the same"
    assert len(mine["code"]) == 8 and mine["code"].isalnum() and alice.id not in mine["code"]
    assert mine["link"] == f"https://qr.example.com/r/{mine['code']}"
    assert mine["referrer_id"] is None and mine["referees"] == 0 and mine["earned_fen"] == 0
    assert my_referral(api, bob)["code"] != mine["code"]
    api.get("/api/v1/me/referral", expect=401)


def test_the_invitation_page_says_who_invites_and_the_offer_in_chinese_and_in_english(api, app, shop):
    referral_campaign(api, shop["brand"], reward={"kind": "coupon", "value_fen": 800, "valid_days": 14})
    alice = api.consumer()
    code = my_referral(api, alice)["code"]
    page = api.client.get(f"/r/{code}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "script-src" not in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert 'lang="zh-CN"' in html and "邀请" in html and code in html and "Bright Dairy" in html and "¥8.00" in html
    english = api.client.get(f"/r/{code}?lang=en").get_data(as_text=True)
    assert 'lang="en"' in english and "invites you" in english
    assert api.client.get("/r/NOSUCH00").status_code == 404


# --- binding -------------------------------------------------------------------------------------


def test_a_new_consumer_binds_once_and_every_refusal_says_why(api, app, shop):
    alice, bob, carol = api.consumer(), api.consumer(), api.consumer()
    assert bind(api, bob, alice).json == {"referrer_id": alice.id}
    assert my_referral(api, bob)["referrer_id"] == alice.id
    assert my_referral(api, alice)["referees"] == 1

    assert bind(api, bob, carol, expect=409).json["error"]["code"] == "already_bound"
    assert bind(api, carol, carol, expect=409).json["error"]["code"] == "self_referral"
    assert bind(api, alice, bob, expect=409).json["error"]["code"] == "cyclic"
    assert bind(api, carol, "ZZZZZZZZ", expect=404).json["error"]["code"] == "not_found"

    scanner = api.consumer()
    scan(api, scanner, shop["codes"][0]["url"])
    assert bind(api, scanner, alice, expect=409).json["error"]["code"] == "not_new"
    buyer = api.consumer()
    api.post(
        "/api/v1/orders",
        {"store_id": shop["store"].id, "items": [{"product_id": shop["product"]["id"], "quantity": 1}]},
        who=buyer,
        expect=201,
    )
    assert bind(api, buyer, alice, expect=409).json["error"]["code"] == "not_new"


def test_a_cycle_is_refused_however_far_up_the_chain_it_closes(api):
    a, b, c, d = (api.consumer() for _ in range(4))
    bind(api, b, a)
    bind(api, c, b)
    bind(api, d, c)
    assert bind(api, a, d, expect=409).json["error"]["code"] == "cyclic"


def test_a_referrer_binds_at_most_its_daily_number_of_new_consumers(api, app, monkeypatch):
    monkeypatch.setitem(app.config, "REFERRAL_DAILY_BINDINGS", 2)
    alice = api.consumer()
    bind(api, api.consumer(), alice)
    bind(api, api.consumer(), alice)
    late = api.consumer()
    assert bind(api, late, alice, expect=409).json["error"]["code"] == "daily_limit"
    assert my_referral(api, late)["referrer_id"] is None


def test_bad_binding_input_is_422_naming_the_field(api):
    consumer = api.consumer()
    r = api.post("/api/v1/me/referrer", {"code": ""}, who=consumer, expect=422)
    assert "code" in r.json["error"]["fields"]
    r = api.post("/api/v1/me/referrer", {}, who=consumer, expect=422)
    assert "code" in r.json["error"]["fields"]


# --- orders carry the referrers --------------------------------------------------------------------


def test_a_bound_consumers_orders_pay_the_split_rules_referrer_shares_to_its_referrers(api, app, shop):
    alice, bob, carol = api.consumer(), api.consumer(), api.consumer()
    bind(api, bob, alice)
    bind(api, carol, bob)
    paid_order(api, shop, carol, quantity=10)  # 10000: referrer 3% to bob, referrer2 1% to alice
    assert balance(api, bob)["pending_fen"] == 300
    assert balance(api, alice)["pending_fen"] == 100
    settle_everything(app)
    assert (balance(api, bob)["pending_fen"], balance(api, bob)["available_fen"]) == (0, 300)
    assert verify(app) == []


# --- referral campaigns ------------------------------------------------------------------------------


def test_a_referral_campaign_is_validated_and_reserves_its_budget(api, shop):
    brand = shop["brand"]
    before = api.get("/api/v1/brand/balance", who=brand).json["budget_fen"]
    made = referral_campaign(api, brand, budget_fen=50_000, second_level_percent=20).json
    assert made["type"] == "referral" and made["remaining_budget_fen"] == 50_000
    assert made["referral"]["trigger"] == "first_scan" and made["referral"]["second_level_percent"] == 20
    assert api.get("/api/v1/brand/balance", who=brand).json["budget_fen"] == before - 50_000
    r = referral_campaign(api, brand, reward={"kind": "commission", "percent": 5}, expect=422)
    assert "reward" in r.json["error"]["fields"], "a percent needs first_order"
    r = referral_campaign(api, brand, reward={"kind": "commission"}, expect=422)
    assert "reward" in r.json["error"]["fields"]
    r = referral_campaign(api, brand, trigger="first_tweet", expect=422)
    assert "trigger" in r.json["error"]["fields"]
    r = referral_campaign(api, brand, budget_fen=10**11, expect=409)
    assert r.json["error"]["code"] == "insufficient_funds"


def test_a_referees_first_scan_pays_the_referrer_a_commission_once(api, app, shop):
    brand, codes = shop["brand"], shop["codes"]
    campaign = referral_campaign(api, brand, reward={"kind": "commission", "value_fen": 500}).json
    alice, bob = api.consumer(), api.consumer()
    bind(api, bob, alice)
    scan(api, bob, codes[0]["url"])
    scan(api, bob, codes[1]["url"])  # a second first scan of the brand's items: not a first scan of the brand
    assert balance(api, alice)["pending_fen"] == 500
    assert my_referral(api, alice)["earned_fen"] == 500
    [reward] = rewards_of(api, brand, campaign)
    assert reward["referrer_id"] == alice.id and reward["referee_id"] == bob.id
    assert (reward["level"], reward["trigger"], reward["kind"], reward["amount_fen"], reward["status"]) == (
        1,
        "first_scan",
        "commission",
        500,
        "granted",
    )
    assert api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=brand).json["remaining_budget_fen"] == 99_500
    run_due(app)
    assert balance(api, alice)["pending_fen"] == 500, "the sweep pays nothing twice"
    settle_everything(app)
    assert balance(api, alice)["available_fen"] == 500
    assert verify(app) == []


def test_a_scan_by_a_consumer_without_a_referrer_rewards_nobody(api, app, shop):
    campaign = referral_campaign(api, shop["brand"]).json
    scan(api, api.consumer(), shop["codes"][0]["url"])
    run_due(app)
    assert rewards_of(api, shop["brand"], campaign) == []


def test_a_first_scan_coupon_reward_lands_in_the_referrers_wallet(api, app, shop):
    brand = shop["brand"]
    referral_campaign(api, brand, reward={"kind": "coupon", "value_fen": 800, "valid_days": 14})
    alice, bob = api.consumer(), api.consumer()
    bind(api, bob, alice)
    scan(api, bob, shop["codes"][0]["url"])
    [coupon] = api.get("/api/v1/me/coupons", who=alice, expect=200).json["items"]
    assert (coupon["kind"], coupon["value_fen"], coupon["brand_id"]) == ("brand_coupon", 800, brand.id)
    [reward] = rewards_of(api, brand)
    assert reward["kind"] == "coupon" and reward["coupon_id"] == coupon["coupon_id"]
    assert balance(api, alice)["pending_fen"] == 0
    assert verify(app) == []


def test_a_first_paid_order_pays_a_percent_to_the_referrer_and_a_share_of_it_to_its_referrer_never_a_third(
    api, app, shop
):
    brand = shop["brand"]
    campaign = referral_campaign(
        api, brand, trigger="first_order", reward={"kind": "commission", "percent": 10}, second_level_percent=50
    ).json
    top, alice, bob, carol = (api.consumer() for _ in range(4))
    bind(api, alice, top)
    bind(api, bob, alice)
    bind(api, carol, bob)
    order = paid_order(api, shop, carol, quantity=2)  # 2000: 10% = 200 to bob, half of it to alice
    paid_order(api, shop, carol, quantity=5)  # not the first order: no campaign reward
    got = {(r["level"], r["referrer_id"], r["amount_fen"]) for r in rewards_of(api, brand, campaign)}
    assert got == {(1, bob.id, 200), (2, alice.id, 100)}
    assert all(r["order_id"] == order["id"] for r in rewards_of(api, brand, campaign))
    # campaign 200 + split 3% of 7000; alice: campaign 100 + split 1% of 7000; top: nothing ever
    assert balance(api, bob)["pending_fen"] == 200 + 210
    assert balance(api, alice)["pending_fen"] == 100 + 70
    assert balance(api, top)["pending_fen"] == 0
    assert verify(app) == []


def test_a_refund_reverses_both_levels_from_pending_and_clawed_back_from_available(api, app, shop):
    brand, store = shop["brand"], shop["store"]
    campaign = referral_campaign(
        api, brand, trigger="first_order", reward={"kind": "commission", "value_fen": 600}, second_level_percent=50
    ).json
    alice, bob, carol = api.consumer(), api.consumer(), api.consumer()
    bind(api, bob, alice)
    bind(api, carol, bob)
    order = paid_order(api, shop, carol, quantity=10)  # split: bob 300, alice 100; campaign: bob 600, alice 300
    assert (balance(api, bob)["pending_fen"], balance(api, alice)["pending_fen"]) == (900, 400)

    refund_order(api, carol, store, order, amount_fen=5000)  # half: half of each back
    assert (balance(api, bob)["pending_fen"], balance(api, alice)["pending_fen"]) == (450, 200)
    assert {r["level"]: r["reversed_fen"] for r in rewards_of(api, brand, campaign)} == {1: 300, 2: 150}

    settle_everything(app)
    assert balance(api, bob)["available_fen"] == 450
    api.post("/api/v1/me/payouts", {"amount_fen": 400}, who=bob, expect=201)  # bob spends most of it
    before = api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=brand).json["remaining_budget_fen"]
    refund_order(api, carol, store, order)  # the rest: clawed back from available, the brand covers the rest
    assert balance(api, bob)["available_fen"] == 0 and balance(api, alice)["available_fen"] == 0
    statuses = {r["level"]: (r["status"], r["reversed_fen"]) for r in rewards_of(api, brand, campaign)}
    assert statuses == {1: ("reversed", 600), 2: ("reversed", 300)}
    after = api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=brand).json["remaining_budget_fen"]
    assert after == before + 300 + 150, "the campaign gets its commissions back"
    assert my_referral(api, bob)["earned_fen"] == 0
    assert verify(app) == []


def test_a_consumer_withdraws_available_earnings_through_a_payout(api, app, shop):
    referral_campaign(api, shop["brand"], reward={"kind": "commission", "value_fen": 1500})
    alice, bob = api.consumer(), api.consumer()
    bind(api, bob, alice)
    scan(api, bob, shop["codes"][0]["url"])
    r = api.post("/api/v1/me/payouts", {"amount_fen": 1000}, who=alice, expect=409)
    assert r.json["error"]["code"] == "insufficient_funds" and "1500 fen" in r.json["error"]["fields"]["amount_fen"][0]
    settle_everything(app)
    payout = api.post("/api/v1/me/payouts", {"amount_fen": 1000}, who=alice, expect=201).json
    assert payout["status"] == "requested"
    assert balance(api, alice)["available_fen"] == 500 and balance(api, alice)["in_transit_fen"] == 1000
    api.post("/api/v1/admin/payouts/run", {}, who=api.admin, expect=202)
    [listed] = api.get("/api/v1/me/payouts", who=alice, expect=200).json["items"]
    assert (listed["id"], listed["status"]) == (payout["id"], "paid")
    assert balance(api, alice)["paid_out_fen"] == 1000
    api.post("/api/v1/me/payouts", {"amount_fen": 600}, who=alice, expect=409)
    api.post("/api/v1/me/payouts", {"amount_fen": "x"}, who=alice, expect=422)
    assert api.get("/api/v1/store/payouts", who=shop["store"], expect=200).json["items"] == []
    assert verify(app) == []


def test_a_blacklisted_referrer_gets_no_reward_and_no_split_share(api, app, shop):
    brand = shop["brand"]
    campaign = referral_campaign(api, brand).json
    alice, bob = api.consumer(), api.consumer()
    bind(api, bob, alice)
    api.post("/api/v1/brand/blacklist", {"consumer_id": alice.id, "reason": "刷单"}, who=brand, expect=201)
    scan(api, bob, shop["codes"][0]["url"])
    paid_order(api, shop, bob)
    [reward] = rewards_of(api, brand, campaign)
    assert reward["status"] == "blocked"
    assert balance(api, alice)["pending_fen"] == 0
    assert verify(app) == []


def test_the_brand_sees_only_its_own_rewards(api, shop):
    referral_campaign(api, shop["brand"])
    alice, bob = api.consumer(), api.consumer()
    bind(api, bob, alice)
    scan(api, bob, shop["codes"][0]["url"])
    other = api.brand("Another Dairy")
    assert api.get("/api/v1/brand/referrals", who=other, expect=200).json == {"items": [], "next_cursor": None}
    assert len(rewards_of(api, shop["brand"])) == 1
    api.get("/api/v1/brand/referrals", who=bob, expect=403)
    api.get("/api/v1/brand/referrals?limit=0", who=shop["brand"], expect=422)


# --- jobs: killed, missed, raced -------------------------------------------------------------------


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing in the job gets to clean up after it."""


def test_a_reward_job_killed_midway_is_retried_by_the_sweep_and_rewards_once(api, app, shop, monkeypatch):
    brand = shop["brand"]
    campaign = referral_campaign(api, brand, reward={"kind": "commission", "value_fen": 500}).json
    alice, bob = api.consumer(), api.consumer()
    bind(api, bob, alice)

    def die(*args, **kwargs):
        raise WorkerKilled

    monkeypatch.setattr(reward_service.settlement, "credit_consumer", die)
    try:  # inline, the job dies inside the request after the scan committed
        scan(api, bob, shop["codes"][0]["url"], expect=None)
    except WorkerKilled:
        pass
    monkeypatch.undo()
    assert rewards_of(api, brand, campaign) == [], "the dead job's transaction never committed"
    run_due(app)
    run_due(app)
    [reward] = rewards_of(api, brand, campaign)
    assert reward["status"] == "granted" and balance(api, alice)["pending_fen"] == 500
    assert verify(app) == []


def test_thirty_first_scans_at_once_against_a_budget_for_five_rewards_give_exactly_five(api, app, shop, postgres_only):
    brand = shop["brand"]
    campaign = referral_campaign(api, brand, reward={"kind": "commission", "value_fen": 100}, budget_fen=500).json
    referees = []
    for _ in range(30):
        referrer, referee = api.consumer(), api.consumer()
        bind(api, referee, referrer)
        referees.append((referrer, referee))

    def send(i, client):
        r = client.post("/api/v1/scans", json={"code": shop["codes"][i]["url"]}, headers=referees[i][1].headers)
        return r.status_code

    assert all_at_once(30, lambda i: app.test_client(), send) == [200] * 30
    run_due(app)
    decided = rewards_of(api, brand, campaign)
    assert len(decided) == 30
    assert sum(r["status"] == "granted" for r in decided) == 5
    assert {r["status"] for r in decided} == {"granted", "unfunded"}
    assert sum(balance(api, referrer)["pending_fen"] for referrer, _ in referees) == 500
    assert api.get(f"/api/v1/brand/campaigns/{campaign['id']}", who=brand).json["remaining_budget_fen"] == 0
    assert verify(app) == []


def test_a_worker_killed_inside_the_reward_job_leaves_it_to_the_next_worker_which_rewards_once(
    api, app, app_settings, shop, postgres_only
):
    from sqlalchemy import text

    from app import create_app
    from tests.api.test_refunds import _kill, _wait, _worker

    if not app_settings["REDIS_URL"]:
        pytest.skip("needs Redis (REDIS_URL) for a real worker")
    brand = shop["brand"]
    campaign = referral_campaign(api, brand, reward={"kind": "commission", "value_fen": 500}).json
    alice, bob = api.consumer(), api.consumer()
    bind(api, bob, alice)
    queued = create_app({**app_settings, "RQ_IS_ASYNC": True})  # enqueue for the worker, as in production
    try:
        r = queued.test_client().post("/api/v1/scans", json={"code": shop["codes"][0]["url"]}, headers=bob.headers)
        assert r.status_code == 200
    finally:
        db.dispose(queued)

    engine = db.engine(app)
    blocker = engine.connect()
    blocker_tx = blocker.begin()
    # The campaign row locked: the job's reward row (its foreign key) waits for it, inside the job's transaction.
    blocker.execute(text("SELECT id FROM campaigns WHERE id = :id FOR UPDATE"), {"id": campaign["id"]})

    def waiting_on_the_campaign():
        with engine.connect() as conn:
            return bool(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE 'INSERT INTO referral_rewards%'"
                    )
                ).scalar()
            )

    slow = _worker(app_settings)
    try:
        assert _wait(waiting_on_the_campaign), "the worker never reached the campaign"
    finally:
        _kill(slow)
        blocker_tx.rollback()
        blocker.close()
    assert rewards_of(api, brand, campaign) == [], "killed before its transaction committed"

    fresh = _worker(app_settings)
    try:
        assert _wait(lambda: [r["status"] for r in rewards_of(api, brand, campaign)] == ["granted"])
    finally:
        _kill(fresh)
    run_due(app)
    assert len(rewards_of(api, brand, campaign)) == 1
    assert balance(api, alice)["pending_fen"] == 500, "rewarded once"
    assert verify(app) == []
