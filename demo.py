"""`flask --app app demo`: migrate, seed the whole story (a funded brand with a live scan-reward
campaign, a partner store, a product and small activated batches), print the URLs and keys, and serve.

The demo's URLs follow where it serves (`--host`, `--port`) unless PUBLIC_BASE_URL is set: a code
is ours only under PUBLIC_BASE_URL's origin, so the served app must use the origin its codes name.
Store earnings settle after DEMO_SETTLEMENT_SECONDS (unless SETTLEMENT_DELAY_SECONDS is set), so a
payout is reached in minutes. Keys are shown once, so the demo keeps what it created in
instance/demo.json (development only) and reuses it on the next run.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta

import click
from flask import Flask

from codes import batches as codes
from codes.verify import code_url
from db import session_scope
from identity import services
from identity.models import Brand
from loyalty import campaigns
from storefront.ledger import deposits

DEMO_SETTLEMENT_SECONDS = 120
DEMO_FUNDING_FEN = 100_000
DEMO_CAMPAIGN_BUDGET_FEN = 50_000
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def served_origin(host: str, port: int) -> str:
    """The origin a browser on this machine reaches `host:port` at (a wildcard bind: localhost)."""
    name = "localhost" if host in WILDCARD_HOSTS else host
    if ":" in name:  # an IPv6 address
        name = f"[{name}]"
    return f"http://{name}:{port}"


def demo_path(app: Flask) -> str:
    return os.path.join(app.instance_path, "demo.json")


def read_info(app: Flask) -> dict | None:
    """What the last demo run kept (instance/demo.json), or None."""
    try:
        with open(demo_path(app)) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _seed_story(session, info: dict) -> None:
    """Funding and a live campaign for the demo brand, once (a deposit's reference is its key)."""
    deposits.deposit_to_brand(session, info["brand_id"], DEMO_FUNDING_FEN, "demo-funding")
    if not info.get("campaign_id"):
        now = datetime.now(UTC)
        campaign = campaigns.create_scan_reward(
            session,
            info["brand_id"],
            name="Demo: every first scan wins 5 yuan",
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(days=3650),
            product_ids=[info["product_id"]],
            budget_fen=DEMO_CAMPAIGN_BUDGET_FEN,
            tiers=[{"probability": 1, "reward": {"kind": "brand_coupon", "value_fen": 500, "valid_days": 30}}],
        )
        info["campaign_id"] = campaign.id


def seed(app: Flask) -> dict:
    """Create the demo's data (or find last run's), and its URLs under the app's PUBLIC_BASE_URL."""
    info = read_info(app)
    with session_scope(app) as session:
        if info is None or session.get(Brand, info["brand_id"]) is None:
            brand_info = services.create_brand(session, "Bright Dairy (demo)")
            store_info = services.create_store(session, "Corner store No. 8 (demo)", 31.2304, 121.4737, "310101")
            brand_id = brand_info["id"]
            services.add_partner(session, brand_id, store_info["id"])
            product = codes.create_product(session, brand_id, "MILK-1L", "Fresh milk 1L", 1200, 700, "9506000134352")
            batch = codes.create_batch(
                session, brand_id, product.id, 100, "L2026A", date.today(), region_codes=["310000"]
            )
            codes.activate(session, brand_id, batch.id)
            gs1 = codes.create_batch(session, brand_id, product.id, 10, "L2026A", date.today(), format="gs1")
            codes.activate(session, brand_id, gs1.id)
            info = {
                "brand_id": brand_id,
                "brand_key": brand_info["api_key"],
                "store_id": store_info["id"],
                "store_key": store_info["api_key"],
                "product_id": product.id,
                "batch_id": batch.id,
                "gs1_batch_id": gs1.id,
            }
        _seed_story(session, info)
        base = app.config["PUBLIC_BASE_URL"]
        batch = codes.own_batch(session, info["brand_id"], info["batch_id"])
        gs1 = codes.own_batch(session, info["brand_id"], info["gs1_batch_id"])
        info["base_url"] = base
        info["landing_url"] = code_url(session, base, batch, batch.serial_from)
        info["gs1_url"] = code_url(session, base, gs1, gs1.serial_from)
    os.makedirs(app.instance_path, exist_ok=True)
    fd = os.open(demo_path(app), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(info, fh, indent=2)
    return info


def init_app(app: Flask) -> None:
    @app.cli.command("demo")
    @click.option(
        "--host", default="127.0.0.1", show_default=True, help="Address to serve on (0.0.0.0: every interface)."
    )
    @click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port to serve on.")
    @click.option("--no-serve", is_flag=True, help="Seed and print the URLs, but do not start the server.")
    def demo_command(host, port, no_serve):
        """Migrate, seed a demo brand (funded, with a live scan-reward campaign), a partner store,
        a product and two activated batches, print the URLs and keys, and serve.

        Code URLs name the served origin (http://HOST:PORT) unless PUBLIC_BASE_URL is set; store
        earnings settle after 120 s unless SETTLEMENT_DELAY_SECONDS is set. What it creates is kept
        in instance/demo.json and reused on the next run.
        """
        from migrations import upgrade

        explicit = app.config["EXPLICIT_SETTINGS"]
        if "PUBLIC_BASE_URL" not in explicit:
            app.config["PUBLIC_BASE_URL"] = served_origin(host, port)
        if "SETTLEMENT_DELAY_SECONDS" not in explicit:
            app.config["SETTLEMENT_DELAY_SECONDS"] = DEMO_SETTLEMENT_SECONDS
        upgrade(app.config["DATABASE_URL"], "head")
        with app.app_context():
            info = seed(app)
        base = app.config["PUBLIC_BASE_URL"]
        click.echo("Demo data ready.")
        click.echo(f"  Landing page (genuine bottle): {info['landing_url']}")
        click.echo(f"  GS1 Digital Link form:         {info['gs1_url']}")
        click.echo(f"  API docs:                      {base}/api/docs")
        click.echo(f"  OpenAPI document:              {base}/api/openapi.json")
        click.echo(f"  Store page:                    {base}/store")
        click.echo(f"  Admin key: in {os.path.join(app.instance_path, 'secrets.json')} (ADMIN_API_KEY)")
        click.echo(f"  Demo brand key:  {info['brand_key']}")
        click.echo(f"  Demo store key:  {info['store_key']}")
        click.echo(
            f"  Brand budget:    funded with {DEMO_FUNDING_FEN // 100:,} yuan; live campaign {info['campaign_id']} "
            "gives every first scan of Fresh milk 1L a 5-yuan coupon"
        )
        click.echo(
            f"  Settlement:      store earnings become available after {app.config['SETTLEMENT_DELAY_SECONDS']} s"
        )
        click.echo("  More keys:       POST/GET /api/v1/brand/api-keys (and /store/api-keys), DELETE .../{id} revokes")
        click.echo(
            "  Consumer login:  POST /api/v1/auth/consumer {openid, ts, signature}, signature = hex "
            'HMAC-SHA256(MINIAPP_SECRET, "{openid}.{ts}"), ts = Unix seconds; each proof works once, for 300 s'
        )
        if not no_serve:
            from werkzeug.serving import run_simple

            click.echo(f"Serving on {served_origin(host, port)} (Ctrl+C to stop)")
            run_simple(host, port, app, threaded=True, use_reloader=False)
