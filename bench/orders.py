"""python -m bench.orders: pay and split 10,000 orders on PostgreSQL, against the bare transfer rate.

Creates a scratch database `<name>_bench_orders` beside DATABASE_URL's (default
postgresql+psycopg://postgres@127.0.0.1/test), migrates it, and sets up a brand with a split rule
(store 10%, platform 5%, referrers 3% + 1% folded into the brand), 50 partner stores and 10,000
unpaid orders (inserted directly: creating them is not what is measured).

Measured, same workers (4 threads), one payment or transfer per transaction as a request does:
- orders_per_s: each order paid through `storefront.payments.notices.handle_notice`, the webhook's
  whole path: HMAC check over the raw body, JSON parse and validation, the conditional
  pending->paid UPDATE, the split (largest remainder), one multi-leg ledger transfer (clearing ->
  store pending, platform fees, brand revenue), the settlement row, commit.
- transfer_per_s: the ledger's bare rate: `transfers.transfer` clearing -> a store's pending, one
  per transaction. Both touch the platform clearing account on every transaction, as real payments do.
ratio = orders_per_s / transfer_per_s.  Prints progress, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta

from sqlalchemy import insert
from sqlalchemy.orm import sessionmaker

from bench.support import APP_SECRETS, log, postgres_url, scratch_database, split_over_threads

STORES, CONSUMERS = 50, 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    with scratch_database(postgres_url("bench.orders"), "bench_orders") as url:
        run(url, args.orders, args.workers)


def run(url: str, n: int, workers: int) -> None:
    import db
    from app import create_app
    from migrations import upgrade
    from storefront.ledger import audit, transfers
    from storefront.models import Order
    from storefront.payments import notices as payments
    from storefront.payments.provider import sign
    from tests.factories import Api

    upgrade(url)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "REDIS_URL": None, **APP_SECRETS})
    api = Api(app, app.test_client())
    brand = api.brand("Bench dairy")
    product = api.product(brand, price_fen=1200, cost_fen=700)
    api.post(
        "/api/v1/brand/split-rules",
        {"store_percent": 10, "platform_percent": 5, "referrer_percent": 3, "referrer2_percent": 1},
        who=brand,
        expect=201,
    )
    stores = [api.store(partner_of=brand).id for _ in range(STORES)]
    consumers = [api.consumer().id for _ in range(CONSUMERS)]
    now = db.utcnow()
    rows = [
        {
            "id": f"or_bench{i:07d}",
            "consumer_id": consumers[i % CONSUMERS],
            "store_id": stores[i % STORES],
            "brand_id": brand.id,
            "status": "pending_payment",
            "subtotal_fen": 1200 * (1 + i % 3),
            "discount_fen": 0,
            "amount_fen": 1200 * (1 + i % 3),
            "items": [
                {
                    "product_id": product["id"],
                    "name": product["name"],
                    "quantity": 1 + i % 3,
                    "unit_price_fen": 1200,
                    "line_fen": 1200 * (1 + i % 3),
                }
            ],
            "split": {},
            "refund": {},
            "created_at": now,
            "expires_at": now + timedelta(days=1),
        }
        for i in range(n)
    ]
    factory = sessionmaker(db.engine(app), expire_on_commit=False)
    with factory() as session:
        session.execute(insert(Order), rows)
        session.commit()
    log(f"{n:,} unpaid orders, {STORES} stores; paying them with {workers} workers ...")
    notices = []
    for row in rows:
        body = json.dumps(
            {
                "order_id": row["id"],
                "transaction_id": f"tx-{row['id']}",
                "amount_fen": row["amount_fen"],
                "status": "paid",
            }
        ).encode()
        with app.app_context():
            notices.append((body, sign(body, app.config["PAYMENT_WEBHOOK_SECRET"])))

    def pay(w, indexes):
        with app.app_context():
            for count, i in enumerate(indexes, 1):
                with factory() as session:
                    result = payments.handle_notice(
                        session,
                        *notices[i],
                        secret=app.config["PAYMENT_WEBHOOK_SECRET"],
                        settle_delay_seconds=app.config["SETTLEMENT_DELAY_SECONDS"],
                    )
                    assert result["status"] == "paid", result
                if w == 0 and count % (2000 // workers) == 0:
                    log(f"orders: ~{count * workers:,} paid")

    orders_per_s = split_over_threads(workers, n, pay)
    log(f"orders: {orders_per_s:,.0f}/s")

    def transfer(w, indexes):
        with app.app_context():
            for i in indexes:
                with factory() as session:
                    transfers.transfer(
                        session,
                        ("platform", None, "clearing"),
                        ("store", stores[i % STORES], "pending"),
                        1200,
                        key=f"bare-{i}",
                        kind="bench",
                        reference=f"bench-{i}",
                    )
                    session.commit()

    transfer_per_s = split_over_threads(workers, n, transfer)
    log(f"bare transfers: {transfer_per_s:,.0f}/s")
    with factory() as session:
        problems = audit.verify(session)
        paid = session.query(Order).filter(Order.status == "paid").count()
    assert paid == n and not problems, (paid, problems[:3])
    print(
        json.dumps(
            {
                "orders_per_s": round(orders_per_s, 1),
                "transfer_per_s": round(transfer_per_s, 1),
                "ratio": round(orders_per_s / transfer_per_s, 3),
                "orders": n,
                "workers": workers,
                "ledger_verify": "ok",
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
