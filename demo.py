"""`flask --app app demo`: migrate, seed a brand, a partner store, a product and small activated batches,
print the URLs and keys, and serve.

Keys are shown once, so the demo keeps what it created in instance/demo.json (development only)
and reuses it on the next run.
"""

from __future__ import annotations

import json
import os
from datetime import date

import click
from flask import Flask

from codes import batches as codes
from codes.verify import code_url
from db import session_scope
from identity import services
from identity.models import Brand


def seed(app) -> dict:
    path = os.path.join(app.instance_path, "demo.json")
    if os.path.exists(path):
        with open(path) as fh:
            info = json.load(fh)
        with session_scope(app) as session:
            if session.get(Brand, info["brand_id"]) is not None:
                return info
    with session_scope(app) as session:
        brand_info = services.create_brand(session, "Bright Dairy (demo)")
        store_info = services.create_store(session, "Corner store No. 8 (demo)", 31.2304, 121.4737, "310101")
        brand = session.get(Brand, brand_info["id"])
        services.add_partner(session, brand.id, store_info["id"])
        product = codes.create_product(session, brand.id, "MILK-1L", "Fresh milk 1L", 1200, 700, "9506000134352")
        batch = codes.create_batch(session, brand.id, product.id, 100, "L2026A", date.today(), region_codes=["310000"])
        codes.activate(session, brand.id, batch.id)
        gs1 = codes.create_batch(session, brand.id, product.id, 10, "L2026A", date.today(), format="gs1")
        codes.activate(session, brand.id, gs1.id)
        base = app.config["PUBLIC_BASE_URL"]
        info = {
            "brand_id": brand.id,
            "brand_key": brand_info["api_key"],
            "store_id": store_info["id"],
            "store_key": store_info["api_key"],
            "product_id": product.id,
            "batch_id": batch.id,
            "gs1_batch_id": gs1.id,
            "landing_url": code_url(session, base, batch, batch.serial_from),
            "gs1_url": code_url(session, base, gs1, gs1.serial_from),
        }
    os.makedirs(app.instance_path, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(info, fh, indent=2)
    return info


def init_app(app: Flask) -> None:
    @app.cli.command("demo")
    @click.option("--host", default="127.0.0.1")
    @click.option("--port", default=5000, type=int)
    @click.option("--no-serve", is_flag=True, help="Seed and print the URLs, but do not start the server.")
    def demo_command(host, port, no_serve):
        """Migrate, seed a demo brand/product/activated batch, print URLs, and serve."""
        from migrations import upgrade

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
        click.echo("  More keys:       POST/GET /api/v1/brand/api-keys (and /store/api-keys), DELETE .../{id} revokes")
        click.echo(
            "  Consumer login:  POST /api/v1/auth/consumer {openid, ts, signature}, signature = hex "
            'HMAC-SHA256(MINIAPP_SECRET, "{openid}.{ts}"), ts = Unix seconds; each proof works once, for 300 s'
        )
        if not no_serve:
            from werkzeug.serving import run_simple

            click.echo(f"Serving on http://{host}:{port} (Ctrl+C to stop)")
            run_simple(host, port, app, threaded=True, use_reloader=False)
