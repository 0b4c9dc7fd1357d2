"""What an operator runs besides the API: health and readiness probes, and `flask db upgrade`."""

from __future__ import annotations

import click
from flask import Flask, jsonify
from flask.cli import AppGroup
from sqlalchemy import text

import db


def init_app(app: Flask) -> None:
    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        body, ok = {"db": False, "redis": "inline"}, True
        try:
            with db.engine().connect() as conn:
                conn.execute(text("SELECT 1"))
            body["db"] = True
        except Exception:
            ok = False
        if app.config["REDIS_URL"]:
            try:
                from redis import Redis

                body["redis"] = bool(Redis.from_url(app.config["REDIS_URL"], socket_timeout=2).ping())
            except Exception:
                body["redis"], ok = False, False
        return jsonify(body), (200 if ok else 503)

    db_group = AppGroup("db", help="Database schema (Alembic migrations).")

    @db_group.command("upgrade")
    @click.argument("revision", default="head")
    def upgrade_command(revision):
        """Build or migrate the schema to REVISION (default: head)."""
        from migrations import upgrade

        upgrade(app.config["DATABASE_URL"], revision)
        click.echo(f"database at {revision}")

    app.cli.add_command(db_group)
