"""`flask --app app demo`: its URLs follow where it serves, and its seed reaches a payout in minutes."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

import db
from db import utcnow
from storefront.ledger.models import Settlement
from storefront.models import Order
from tests.factories import Api, deposit


@pytest.fixture
def demo_app(app, app_settings, tmp_path, monkeypatch):
    """An app as `flask --app app demo` gets it: PUBLIC_BASE_URL and the settlement delay not set."""
    from app import create_app

    for name in ("PUBLIC_BASE_URL", "SETTLEMENT_DELAY_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    settings = {k: v for k, v in app_settings.items() if k not in ("PUBLIC_BASE_URL", "SETTLEMENT_DELAY_SECONDS")}
    demo = create_app(settings)
    demo.instance_path = str(tmp_path)
    yield demo
    db.dispose(demo)


def run_demo(app, *args):
    result = app.test_cli_runner().invoke(args=["demo", "--no-serve", *args])
    assert result.exit_code == 0, result.output
    with open(f"{app.instance_path}/demo.json") as fh:
        return result.output, json.load(fh)


def test_demo_urls_follow_the_port_it_serves_on(demo_app):
    output, info = run_demo(demo_app, "--port", "5301")
    assert "localhost:5000" not in output
    assert info["base_url"] == "http://127.0.0.1:5301"
    assert info["landing_url"].startswith("http://127.0.0.1:5301/c/")
    assert info["gs1_url"].startswith("http://127.0.0.1:5301/01/")
    assert f"Landing page (genuine bottle): {info['landing_url']}" in output
    assert "Store page:                    http://127.0.0.1:5301/store" in output
    api = Api(demo_app, demo_app.test_client())
    brand = {"Authorization": f"Bearer {info['brand_key']}"}
    csv = api.get(f"/api/v1/brand/batches/{info['batch_id']}/codes.csv", who=brand, expect=200).get_data(as_text=True)
    assert csv.splitlines()[1].split(",")[2].startswith("http://127.0.0.1:5301/c/")
    # the served app takes its own URLs as ours: a scan of the printed URL is genuine, not forged
    scanned = api.post("/api/v1/scans", {"code": info["landing_url"]}, who=api.consumer(), expect=200).json
    assert scanned["verdict"] == "genuine"


def test_a_second_run_on_another_port_prints_and_keeps_that_ports_urls(demo_app):
    _, first = run_demo(demo_app, "--port", "5301")
    output, second = run_demo(demo_app, "--host", "0.0.0.0", "--port", "5302")
    assert second["brand_id"] == first["brand_id"] and second["brand_key"] == first["brand_key"]
    assert second["landing_url"].startswith("http://localhost:5302/c/") and "5301" not in output


def test_an_explicit_public_base_url_wins_over_the_port(app, tmp_path):
    app.instance_path = str(tmp_path)  # the test app sets PUBLIC_BASE_URL
    _, info = run_demo(app, "--port", "5301")
    assert info["landing_url"].startswith("https://qr.example.com/c/") and "5301" not in info["landing_url"]


def test_demo_seeds_the_story_and_a_payout_is_reached_after_its_short_settlement(demo_app):
    output, info = run_demo(demo_app)
    assert "store earnings become available after 120 s" in output
    assert demo_app.config["SETTLEMENT_DELAY_SECONDS"] == 120
    api = Api(demo_app, demo_app.test_client())
    brand = {"Authorization": f"Bearer {info['brand_key']}"}
    store = {"Authorization": f"Bearer {info['store_key']}"}
    campaign = api.get(f"/api/v1/brand/campaigns/{info['campaign_id']}", who=brand, expect=200).json
    assert campaign["live"] is True and campaign["remaining_budget_fen"] > 0
    # a first scan of the demo's bottle wins the campaign's coupon; the partner store redeems it
    scanned = api.post("/api/v1/scans", {"code": info["landing_url"]}, who=api.consumer(), expect=200).json
    (reward,) = scanned["rewards"]
    api.post("/api/v1/store/redemptions", {"coupon_code": reward["code"]}, who=store, expect=200)
    assert api.get("/api/v1/store/balance", who=store, expect=200).json["pending_fen"] == 500
    with db.session_scope(demo_app) as session:
        (row,) = session.scalars(select(Settlement)).all()
        assert timedelta(seconds=100) < row.due_at - utcnow() <= timedelta(seconds=120)
        row.due_at -= timedelta(seconds=120)  # two minutes pass
    assert "settlement: 1" in demo_app.test_cli_runner().invoke(args=["jobs", "run-due"]).output
    api.post("/api/v1/store/payouts", {"amount_fen": 500}, who=store, expect=201)
    api.post("/api/v1/admin/payouts/run", who=api.admin, expect=202)
    (payout,) = api.get("/api/v1/store/payouts", who=store, expect=200).json["items"]
    assert payout["status"] == "paid" and payout["amount_fen"] == 500


def test_a_second_demo_run_funds_and_starts_the_campaign_once(demo_app):
    _, first = run_demo(demo_app)
    _, second = run_demo(demo_app)
    assert second["campaign_id"] == first["campaign_id"]
    api = Api(demo_app, demo_app.test_client())
    brand = {"Authorization": f"Bearer {second['brand_key']}"}
    balance = api.get("/api/v1/brand/balance", who=brand, expect=200).json
    assert balance["balance_fen"] == 100_000 - 50_000


@pytest.fixture
def served(app):
    """The test app served over HTTP on a free port, as the running demo would be; and the paths it was asked for."""
    seen = []

    def recording(environ, start_response):
        seen.append(environ["PATH_INFO"])
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, recording, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()


def pending_order(api):
    brand = api.brand()
    deposit(api, brand, 10_000)
    store = api.store(partner_of=brand)
    product = api.product(brand, price_fen=1200)
    body = {"store_id": store.id, "items": [{"product_id": product["id"], "quantity": 1}]}
    return api.post("/api/v1/orders", body, who=api.consumer(), expect=201).json


def test_payments_simulate_posts_the_signed_notice_to_the_running_server(api, app, served):
    order = pending_order(api)
    url, seen = served
    result = app.test_cli_runner().invoke(args=["payments", "simulate", order["id"], "--url", url])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("200 ") and seen == ["/api/v1/payments/notify"]
    with db.session_scope(app) as session:
        assert session.get(Order, order["id"]).status == "paid"


def test_payments_simulate_defaults_to_the_demos_origin_and_fails_when_nothing_answers(api, app, tmp_path):
    order = pending_order(api)
    app.instance_path = str(tmp_path)
    (tmp_path / "demo.json").write_text(json.dumps({"base_url": "http://127.0.0.1:9"}))
    result = app.test_cli_runner().invoke(args=["payments", "simulate", order["id"]])
    assert result.exit_code == 1 and "cannot reach http://127.0.0.1:9/api/v1/payments/notify" in result.output
