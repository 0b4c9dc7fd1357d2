"""Group-buy through the API: open, join, pay; a full group succeeds once and is split; a group out of
time refunds every paid member once (or fills with virtual members); the last seat is never sold twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

import db
from bench.support import all_at_once
from loyalty.groupbuy.models import Group
from storefront.ledger import accounts
from storefront.models import Order
from storefront.payments.models import Refund, SimulatedRefund
from tests.factories import deposit, notify_payment
from tests.money import verify

ESCROW = ("platform", None, "group_escrow")
CLEARING = ("platform", None, "clearing")


def account(app, ref):
    with db.session_scope(app) as session:
        return accounts.balance(session, ref)


def run_due(app):
    return app.test_cli_runner().invoke(args=["jobs", "run-due"]).output


@pytest.fixture
def deal(api):
    """A dairy's three-person group-buy of milk at ¥9.90 (usually ¥15.00), sold through a partner store
    that keeps 10% of orders."""
    brand = api.brand("Bright Dairy")
    deposit(api, brand, 100_000)
    store = api.store(region_code="310101", partner_of=brand)
    product = api.product(brand, name="光明鲜牛奶 1L", price_fen=1500, cost_fen=700)
    api.post("/api/v1/brand/split-rules", {"store_percent": 10, "platform_percent": 5}, who=brand, expect=201)
    campaign = api.post(
        "/api/v1/brand/campaigns",
        {
            "type": "group_buy",
            "name": "三人团",
            "product_id": product["id"],
            "group_size": 3,
            "price_fen": 990,
            "duration_seconds": 3600,
        },
        who=brand,
        expect=201,
    ).json
    return {"brand": brand, "store": store, "product": product, "campaign": campaign}


def open_group(api, deal, consumer, expect=201):
    return api.post(
        f"/api/v1/group-buys/{deal['campaign']['id']}/groups",
        {"store_id": deal["store"].id},
        who=consumer,
        expect=expect,
    )


def join(api, group_id, consumer, expect=201):
    return api.post(f"/api/v1/groups/{group_id}/join", {}, who=consumer, expect=expect)


def group(api, group_id, who):
    return api.get(f"/api/v1/groups/{group_id}", who=who, expect=200).json


def time_runs_out(app, group_id):
    with db.session_scope(app) as session:
        session.get(Group, group_id).expires_at -= timedelta(hours=2)
    return run_due(app)


def test_a_group_fills_with_paying_members_succeeds_once_and_every_order_is_split(api, app, deal):
    store = deal["store"]
    assert deal["campaign"]["type"] == "group_buy" and deal["campaign"]["group_buy"]["group_size"] == 3
    a, b, c, d = (api.consumer() for _ in range(4))
    opened = open_group(api, deal, a).json
    assert opened["order"]["amount_fen"] == 990 and opened["order"]["status"] == "pending_payment"
    assert opened["share_url"].endswith(f"/g/{opened['group_id']}")
    gid = opened["group_id"]
    listed = api.get(f"/api/v1/group-buys/{deal['campaign']['id']}", who=b, expect=200).json
    assert listed["price_fen"] == 990 and [(g["group_id"], g["seats_left"]) for g in listed["open_groups"]] == [
        (gid, 2)
    ]
    orders = [opened["order"], join(api, gid, b).json["order"], join(api, gid, c).json["order"]]
    assert join(api, gid, d, expect=409).json["error"]["code"] == "group_full"
    assert api.get(f"/api/v1/group-buys/{deal['campaign']['id']}", who=d).json["open_groups"] == []

    for order in orders[:2]:
        notify_payment(api, order, expect=200)
    assert group(api, gid, a)["status"] == "forming" and group(api, gid, a)["members_paid"] == 2
    early = api.post(f"/api/v1/orders/{orders[0]['id']}/refund", {"reason": "changed my mind"}, who=a, expect=409)
    assert "waits for its group" in early.json["error"]["message"]
    assert account(app, ESCROW) == 1980, "paid, not split: the money waits"
    assert api.get("/api/v1/store/balance", who=store).json["pending_fen"] == 0
    notify_payment(api, orders[2], expect=200)
    done = group(api, gid, a)
    assert (done["status"], done["members_paid"], done["seats_left"]) == ("succeeded", 3, 0)
    assert account(app, ESCROW) == 0
    assert api.get("/api/v1/store/balance", who=store).json["pending_fen"] == 3 * 99
    seen = api.get(f"/api/v1/orders/{orders[0]['id']}", who=a).json
    assert seen["status"] == "paid" and seen["group_id"] == gid
    run_due(app)  # the sweep finds nothing left to split
    assert api.get("/api/v1/store/balance", who=store).json["pending_fen"] == 3 * 99
    assert verify(app) == []


def test_joining_twice_or_beyond_the_limit_is_refused(api, app, deal):
    brand, product = deal["brand"], deal["product"]
    limited = api.post(
        "/api/v1/brand/campaigns",
        {
            "type": "group_buy",
            "name": "限一团",
            "product_id": product["id"],
            "group_size": 2,
            "price_fen": 990,
            "duration_seconds": 600,
            "per_consumer_limit": 1,
            "max_groups": 2,
        },
        who=brand,
        expect=201,
    ).json
    a, b = api.consumer(), api.consumer()
    gid = open_group(api, {**deal, "campaign": limited}, a).json["group_id"]
    assert join(api, gid, a, expect=409).json["error"]["code"] == "already_member"
    r = open_group(api, {**deal, "campaign": limited}, a, expect=409)
    assert r.json["error"]["code"] == "limit_reached"
    open_group(api, {**deal, "campaign": limited}, b)
    third = open_group(api, {**deal, "campaign": limited}, api.consumer(), expect=409)
    assert third.json["error"]["code"] == "campaign_closed", "max_groups reached"
    assert api.post("/api/v1/groups/gp_nope/join", {}, who=a).status_code == 404
    bad = api.post(f"/api/v1/group-buys/{limited['id']}/groups", {}, who=a, expect=422)
    assert "store_id" in bad.json["error"]["fields"]


def test_a_bad_group_buy_campaign_names_the_field(api, deal):
    brand, product = deal["brand"], deal["product"]
    base = {"type": "group_buy", "name": "x", "product_id": product["id"], "price_fen": 990, "duration_seconds": 600}
    for change, field in (
        ({"group_size": 1}, "group_size"),
        ({"group_size": 51}, "group_size"),
        ({"group_size": 3, "duration_seconds": 59}, "duration_seconds"),
        ({"group_size": 3, "duration_seconds": 604801}, "duration_seconds"),
        ({"group_size": 3, "price_fen": 0}, "price_fen"),
        ({"group_size": 3, "product_id": "pr_other"}, "product_id"),
    ):
        r = api.post("/api/v1/brand/campaigns", base | change, who=brand, expect=422)
        assert field in r.json["error"]["fields"], change


def test_a_seat_whose_order_expires_unpaid_is_given_back(api, app, deal):
    a, b, c = api.consumer(), api.consumer(), api.consumer()
    gid = open_group(api, deal, a).json["group_id"]
    b_order = join(api, gid, b).json["order"]
    join(api, gid, c)
    assert group(api, gid, a)["seats_left"] == 0
    with db.session_scope(app) as session:
        session.get(Order, b_order["id"]).expires_at -= timedelta(hours=1)
    run_due(app)
    assert api.get(f"/api/v1/orders/{b_order['id']}", who=b).json["status"] == "expired"
    assert group(api, gid, a)["seats_left"] == 1
    join(api, gid, api.consumer())
    join(api, gid, b, expect=409)  # full again, whoever asks


def test_a_group_out_of_time_refunds_every_paid_member_exactly_once(api, app, deal):
    a, b, c = api.consumer(), api.consumer(), api.consumer()
    clearing = account(app, CLEARING)
    opened = open_group(api, deal, a).json
    gid, a_order = opened["group_id"], opened["order"]
    b_order = join(api, gid, b).json["order"]
    c_order = join(api, gid, c).json["order"]  # never paid
    notify_payment(api, a_order, expect=200)
    notify_payment(api, b_order, expect=200)
    assert account(app, ESCROW) == 1980
    time_runs_out(app, gid)
    failed = group(api, gid, a)
    assert failed["status"] == "failed" and failed["seats_left"] == 0
    for who, order in ((a, a_order), (b, b_order)):
        seen = api.get(f"/api/v1/orders/{order['id']}", who=who).json
        assert seen["status"] == "refunded"
        assert [(r["system"], r["status"], r["amount_fen"]) for r in seen["refunds"]] == [(True, "succeeded", 990)]
    assert api.get(f"/api/v1/orders/{c_order['id']}", who=c).json["status"] == "cancelled"
    assert account(app, ESCROW) == 0 and account(app, CLEARING) == clearing
    run_due(app)
    time_runs_out(app, gid)
    with db.session_scope(app) as session:
        assert session.scalar(select(func.count()).select_from(Refund)) == 2
        assert [r.calls for r in session.scalars(select(SimulatedRefund))] == [1, 1]
    # the member who never paid pays now: the provider's money is given back, nothing is sold
    late = notify_payment(api, c_order, expect=200).json
    assert late["status"] == "cancelled" and late["refund_id"]
    assert account(app, CLEARING) == clearing
    assert verify(app) == []


def test_with_virtual_fill_a_group_with_a_paid_member_succeeds_when_time_runs_out(api, app, deal):
    brand, product, store = deal["brand"], deal["product"], deal["store"]
    campaign = api.post(
        "/api/v1/brand/campaigns",
        {
            "type": "group_buy",
            "name": "模拟成团",
            "product_id": product["id"],
            "group_size": 3,
            "price_fen": 990,
            "duration_seconds": 600,
            "virtual_fill": True,
        },
        who=brand,
        expect=201,
    ).json
    a, b = api.consumer(), api.consumer()
    opened = open_group(api, {**deal, "campaign": campaign}, a).json
    b_order = join(api, opened["group_id"], b).json["order"]  # b never pays
    notify_payment(api, opened["order"], expect=200)
    time_runs_out(app, opened["group_id"])
    done = group(api, opened["group_id"], a)
    assert (done["status"], done["members_paid"], done["virtual_members"]) == ("succeeded", 1, 2)
    assert api.get(f"/api/v1/orders/{b_order['id']}", who=b).json["status"] == "cancelled"
    assert api.get("/api/v1/store/balance", who=store).json["pending_fen"] == 99
    assert account(app, ESCROW) == 0
    assert verify(app) == []


def test_a_paused_or_ended_campaign_opens_no_groups_but_forming_ones_run_to_their_end(api, app, deal):
    brand, cid = deal["brand"], deal["campaign"]["id"]
    a = api.consumer()
    gid = open_group(api, deal, a).json["group_id"]
    api.post(f"/api/v1/brand/campaigns/{cid}/pause", who=brand, expect=200)
    assert open_group(api, deal, api.consumer(), expect=409).json["error"]["code"] == "campaign_closed"
    api.post(f"/api/v1/brand/campaigns/{cid}/resume", who=brand, expect=200)
    open_group(api, deal, api.consumer())
    api.post(f"/api/v1/brand/campaigns/{cid}/end", who=brand, expect=200)
    assert open_group(api, deal, api.consumer(), expect=409).json["error"]["code"] == "campaign_closed"
    join(api, gid, api.consumer())  # the forming group still takes members
    time_runs_out(app, gid)
    assert join(api, gid, api.consumer(), expect=409).json["error"]["code"] == "group_closed"


def test_the_share_page_shows_price_seats_and_time_left_in_chinese(api, app, client, deal):
    gid = open_group(api, deal, api.consumer()).json["group_id"]
    r = client.get(f"/g/{gid}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'lang="zh-CN"' in html and "¥9.90" in html and "¥15.00" in html
    assert "光明鲜牛奶 1L" in html and "还差 2 人" in html
    english = client.get(f"/g/{gid}?lang=en").get_data(as_text=True)
    assert "2 seats left" in english
    assert client.get("/g/gp_nope").status_code == 404


def test_twenty_phones_racing_for_the_last_seats_never_overfill_a_group(api, app, deal, postgres_only):
    brand, product = deal["brand"], deal["product"]
    campaign = api.post(
        "/api/v1/brand/campaigns",
        {
            "type": "group_buy",
            "name": "五人团",
            "product_id": product["id"],
            "group_size": 5,
            "price_fen": 990,
            "duration_seconds": 600,
        },
        who=brand,
        expect=201,
    ).json
    gid = open_group(api, {**deal, "campaign": campaign}, api.consumer()).json["group_id"]
    phones = [api.consumer() for _ in range(20)]

    def press_join(i, client):
        return client.post(f"/api/v1/groups/{gid}/join", json={}, headers=phones[i].headers).status_code

    statuses = all_at_once(20, lambda i: app.test_client(), press_join)
    assert statuses.count(201) == 4 and statuses.count(409) == 16, statuses
    with db.session_scope(app) as session:
        row = session.get(Group, gid)
        assert row.seats_taken == 5
        assert session.scalar(select(func.count()).select_from(Order).where(Order.group_id == gid)) == 5


def test_a_worker_killed_while_refunding_a_failed_group_refunds_each_member_once(
    api, app, app_settings, deal, postgres_only
):
    from tests.api.test_refunds import _kill, _wait, _worker

    if not app_settings["REDIS_URL"]:
        pytest.skip("needs Redis (REDIS_URL) for a real worker")
    members = [api.consumer() for _ in range(3)]
    opened = open_group(api, deal, members[0]).json
    orders = [opened["order"]] + [join(api, opened["group_id"], m).json["order"] for m in members[1:]]
    for order in orders[:2]:
        notify_payment(api, order, expect=200)
    clearing = account(app, CLEARING)
    with db.session_scope(app) as session:
        session.get(Group, opened["group_id"]).expires_at -= timedelta(hours=2)

    slow = _worker(app_settings, SIMULATED_REFUND_DELAY_SECONDS=60)  # the first refund paid, then a minute's wait
    try:
        assert _wait(lambda: len(refunds_paid(app)) >= 1), "the worker never expired the group"
    finally:
        _kill(slow)
    assert group(api, opened["group_id"], members[0])["status"] == "failed"
    fresh = _worker(app_settings, REFUND_LEASE_SECONDS=1)
    try:
        assert _wait(lambda: len(refunds_paid(app)) == 2 and account(app, CLEARING) == clearing + 1980)
    finally:
        _kill(fresh)
    assert sorted(amount for amount, _ in refunds_paid(app)) == [990, 990]
    for who, order in zip(members[:2], orders[:2], strict=True):
        assert api.get(f"/api/v1/orders/{order['id']}", who=who).json["status"] == "refunded"
    assert verify(app) == []


def refunds_paid(app):
    with db.session_scope(app) as session:
        return [(r.amount_fen, r.calls) for r in session.scalars(select(SimulatedRefund))]


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing in the job gets to clean up after it."""


def test_an_expiry_that_dies_halfway_leaves_nothing_done_and_the_sweep_refunds_each_member_once(
    api, app, deal, monkeypatch
):
    from loyalty.groupbuy import groups as group_service
    from storefront.payments import refunds as refund_service

    members = [api.consumer() for _ in range(3)]
    opened = open_group(api, deal, members[0]).json
    orders = [opened["order"]] + [join(api, opened["group_id"], m).json["order"] for m in members[1:3]]
    for order in orders[:2]:
        notify_payment(api, order, expect=200)
    clearing = account(app, CLEARING)
    real, calls = refund_service.refund_in_full, []

    def dies_on_the_second(session, order_id, reason):
        calls.append(order_id)
        if len(calls) == 2:
            raise WorkerKilled
        return real(session, order_id, reason)

    monkeypatch.setattr(group_service.refunds, "refund_in_full", dies_on_the_second)
    with pytest.raises(WorkerKilled):
        _expire_now(app, opened["group_id"])
    monkeypatch.undo()
    assert group(api, opened["group_id"], members[0])["status"] == "forming", "all of it rolled back"
    assert api.get(f"/api/v1/orders/{orders[2]['id']}", who=members[2]).json["status"] == "pending_payment"
    with db.session_scope(app) as session:
        assert session.scalar(select(func.count()).select_from(Refund)) == 0

    run_due(app)  # the sweep decides it again, once
    assert group(api, opened["group_id"], members[0])["status"] == "failed"
    for who, order in zip(members[:2], orders[:2], strict=True):
        assert api.get(f"/api/v1/orders/{order['id']}", who=who).json["refunds"][0]["status"] == "succeeded"
    run_due(app)
    with db.session_scope(app) as session:
        assert session.scalar(select(func.count()).select_from(Refund)) == 2
    assert account(app, CLEARING) == clearing + 1980
    assert verify(app) == []


def _expire_now(app, group_id):
    """The expiry job at expires_at, in this process (as a worker would run it)."""
    from loyalty.groupbuy import jobs as groupbuy_jobs

    with db.session_scope(app) as session:
        session.get(Group, group_id).expires_at -= timedelta(hours=2)
    with app.app_context():
        groupbuy_jobs.expire_group(group_id)
