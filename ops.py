"""What an operator runs besides the API: health and readiness probes, and `flask db upgrade`."""

from __future__ import annotations

import logging

import click
from flask import Flask, jsonify
from flask.cli import AppGroup
from sqlalchemy import text

import db
import jobs

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        """503 when the database is unreachable (nothing works without it). Redis down is reported
        (`"redis": false`) but still ready: scans, orders and every read go on without it."""
        body = {"db": False, "redis": "inline"}
        try:
            with db.engine().connect() as conn:
                conn.execute(text("SELECT 1"))
            body["db"] = True
        except Exception:
            log.warning("readiness: the database is unreachable", exc_info=True)
        url = app.config["REDIS_URL"]
        if url:
            try:  # the app's own client: answers within REDIS_TIMEOUT_MS, hung or not
                body["redis"] = bool(jobs.redis_client(url, app.config["REDIS_TIMEOUT_MS"]).ping())
            except Exception:
                body["redis"] = False
        return jsonify(body), (200 if body["db"] else 503)

    db_group = AppGroup("db", help="Database schema (Alembic migrations).")

    @db_group.command("upgrade")
    @click.argument("revision", default="head")
    def upgrade_command(revision):
        """Build or migrate the schema of DATABASE_URL to REVISION (an Alembic revision id; default: head)."""
        from alembic.util.exc import CommandError

        from migrations import upgrade

        try:
            upgrade(app.config["DATABASE_URL"], revision)
        except CommandError as error:  # an unknown or ambiguous revision
            raise click.BadParameter(str(error), param_hint="REVISION") from None
        click.echo(f"database at {revision}")

    app.cli.add_command(db_group)
