"""python -m bench.groupbuy: consumers racing to join and pay group-buy groups on PostgreSQL + Redis
with a real worker running, against plain orders paid in the same run.

Creates a scratch database `<name>_bench_groupbuy` beside DATABASE_URL's (default
postgresql+psycopg://postgres@127.0.0.1/test) and uses Redis database 14 of REDIS_URL's server
(default redis://127.0.0.1:6379, emptied first: it is the benchmark's own). Starts
`flask --app app worker` on both (sweeps every second) and stops it at the end.

Measured, same threads, through the app's HTTP API (in-process test client) with jobs queued on Redis:
- plain_per_s: POST /orders then its signed payment notice, per consumer: plain orders paid per second.
- joins_per_s: every consumer presses join on the first group that still has a seat (409 group_full:
  the next one), then pays; groups of GROUP_SIZE, opened beforehand with their openers paid, so
  the threads race for the same last seats. Paid joins per second.
ratio = joins_per_s / plain_per_s.
Then the last FAILING groups, left short of members, run out of time: the worker's sweep fails
them and refunds every paid member through the simulated provider. Checked from the database:
- overfilled: groups holding more live orders (pending or paid) than their size (must be 0);
- double_refunds: orders refunded more than once, or for more than was paid (must be 0);
- every full group succeeded with its orders split, and `ledger verify` finds nothing.
Prints progress, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import timedelta

from bench.support import APP_SECRETS, ROOT, log, postgres_url, scratch_database, split_over_threads

GROUP_SIZE, STORES, FAILING = 5, 10, 4
REDIS_DB = 14


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consumers", type=int, default=1000, help="paid joins to make (and plain orders)")
    parser.add_argument("--workers", type=int, default=8, help="threads pressing join at once")
    args = parser.parse_args()
    base = (os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    with scratch_database(postgres_url("bench.groupbuy"), "bench_groupbuy") as url:
        run(url, f"{base}/{REDIS_DB}", args.consumers, args.workers)


def _worker(url: str, redis_url: str):
    env = {**os.environ, **APP_SECRETS, "DATABASE_URL": url, "REDIS_URL": redis_url, "SWEEP_INTERVAL_SECONDS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def run(url: str, redis_url: str, n: int, workers: int) -> None:
    from redis import Redis
    from sqlalchemy import func, select, text, update

    import db
    from app import create_app
    from loyalty.groupbuy.models import Group, GroupStatus
    from migrations import upgrade
    from storefront.ledger import audit
    from storefront.payments.models import Refund, SimulatedRefund
    from storefront.payments.provider import charge_notice
    from tests.factories import Api

    Redis.from_url(redis_url).flushdb()
    upgrade(url)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "REDIS_URL": redis_url, **APP_SECRETS})
    api = Api(app, app.test_client())
    brand = api.brand("Bench dairy")
    product = api.product(brand, price_fen=1500, cost_fen=700)
    api.post("/api/v1/brand/split-rules", {"store_percent": 10, "platform_percent": 5}, who=brand, expect=201)
    stores = [api.store(partner_of=brand).id for _ in range(STORES)]
    campaign = api.post(
        "/api/v1/brand/campaigns",
        {
            "type": "group_buy",
            "name": "bench",
            "product_id": product["id"],
            "group_size": GROUP_SIZE,
            "price_fen": 990,
            "duration_seconds": 3600,
        },
        who=brand,
        expect=201,
    ).json
    secret = app.config["PAYMENT_WEBHOOK_SECRET"]

    def pay(client, order):
        with app.app_context():
            body, signature = charge_notice(order["id"], order["amount_fen"], f"tx-{order['id']}", secret)
        r = client.post("/api/v1/payments/notify", data=body, headers={"X-Signature": signature})
        assert r.status_code == 200, r.get_data(as_text=True)

    full_groups = -(-n // (GROUP_SIZE - 1))  # each needs GROUP_SIZE - 1 joins after its opener
    log(f"{n:,} consumers x2, {full_groups + FAILING} groups of {GROUP_SIZE}; opening them ...")
    plain_buyers = [api.consumer() for _ in range(n)]
    joiners = [api.consumer() for _ in range(n)]
    group_ids = []
    for g in range(full_groups + FAILING):
        opened = api.post(
            f"/api/v1/group-buys/{campaign['id']}/groups",
            {"store_id": stores[g % STORES]},
            who=api.consumer(),
            expect=201,
        ).json
        pay(api.client, opened["order"])
        group_ids.append(opened["group_id"])
    worker = _worker(url, redis_url)
    try:

        def plain(w, indexes):
            client = app.test_client()
            for i in indexes:
                r = client.post(
                    "/api/v1/orders",
                    json={"store_id": stores[i % STORES], "items": [{"product_id": product["id"], "quantity": 1}]},
                    headers=plain_buyers[i].headers,
                )
                assert r.status_code == 201, r.get_data(as_text=True)
                pay(client, r.get_json())

        plain_per_s = split_over_threads(workers, n, plain)
        log(f"plain orders: {plain_per_s:,.0f} paid/s")

        cursor = {"next": 0}  # the first group that may still have a seat (shared, racy on purpose)

        def join(w, indexes):
            client = app.test_client()
            for i in indexes:
                g = cursor["next"]
                while True:
                    r = client.post(f"/api/v1/groups/{group_ids[g]}/join", json={}, headers=joiners[i].headers)
                    if r.status_code == 201:
                        break
                    assert r.status_code == 409, r.get_data()
                    assert r.get_json()["error"]["code"] in ("group_full", "group_closed"), r.get_data()
                    g += 1
                    cursor["next"] = max(cursor["next"], g)
                pay(client, r.get_json()["order"])

        joins_per_s = split_over_threads(workers, n, join)
        log(f"group joins: {joins_per_s:,.0f} paid/s; letting the short groups run out of time ...")
        with db.session_scope(app) as session:
            short = list(
                session.scalars(select(Group.id).where(Group.status == GroupStatus.FORMING, Group.id.in_(group_ids)))
            )
            session.execute(
                update(Group).where(Group.id.in_(short)).values(expires_at=db.utcnow() - timedelta(seconds=1))
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with db.session_scope(app) as session:
                forming = session.scalar(select(func.count()).select_from(Group).where(Group.status == "forming"))
                open_refunds = session.scalar(
                    select(func.count()).select_from(Refund).where(Refund.status != "succeeded")
                )
                unsplit = session.scalar(
                    select(func.count()).select_from(Group).where(Group.status == "succeeded", Group.split_at.is_(None))
                )
            if not forming and not open_refunds and not unsplit:
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"the worker left {forming} groups forming, {open_refunds} refunds, {unsplit} unsplit")
    finally:
        import signal

        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)

    with db.session_scope(app) as session:
        connection = session.connection()
        overfilled = connection.execute(
            text(
                "SELECT count(*) FROM buy_groups g WHERE g.size < (SELECT count(*) FROM orders o "
                "WHERE o.group_id = g.id AND o.status NOT IN ('expired', 'cancelled'))"
            )
        ).scalar()
        double_refunds = connection.execute(
            text(
                "SELECT count(*) FROM (SELECT r.order_id FROM refunds r JOIN orders o ON o.id = r.order_id "
                "GROUP BY r.order_id, o.amount_fen HAVING count(*) > 1 OR sum(r.amount_fen) > o.amount_fen) x"
            )
        ).scalar()
        paid_back = session.scalar(select(func.coalesce(func.sum(SimulatedRefund.amount_fen), 0)))
        statuses = {
            status: count
            for status, count in session.execute(
                select(Group.status, func.count()).where(Group.id.in_(group_ids)).group_by(Group.status)
            )
        }
        problems = audit.verify(session)
    db.dispose(app)
    log(f"groups: {statuses}; refunded {paid_back:,} fen; ledger verify: {len(problems)} problem(s)")
    if problems:
        raise SystemExit(f"ledger verify: {problems[:3]}")
    print(
        json.dumps(
            {
                "joins_per_s": round(joins_per_s, 1),
                "plain_per_s": round(plain_per_s, 1),
                "ratio": round(joins_per_s / plain_per_s, 2),
                "groups": len(group_ids),
                "succeeded": statuses.get("succeeded", 0),
                "failed": statuses.get("failed", 0),
                "overfilled": overfilled,
                "double_refunds": double_refunds,
            }
        )
    )


if __name__ == "__main__":
    main()
