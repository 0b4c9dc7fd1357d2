"""Application factory: configuration, then each part's init_app, then the CLI."""
from __future__ import annotations

import base64
import json
import logging
import os
import secrets

import click
from flask import Flask, jsonify
from flask.cli import AppGroup
from flask.sessions import SecureCookieSessionInterface
from flask_smorest import Api

ENV_SETTINGS = {
    # name: (default, type)
    "DATABASE_URL": (None, str),
    "REDIS_URL": (None, str),
    "CODE_MASTER_KEY": (None, str),
    "PUBLIC_BASE_URL": ("http://localhost:5000", str),
    "ADMIN_API_KEY": (None, str),
    "MINIAPP_SECRET": (None, str),
    "PAYMENT_WEBHOOK_SECRET": (None, str),
    "SECRET_KEY": (None, str),
    "SETTLEMENT_DELAY_SECONDS": (604800, int),
    "PAYOUT_MIN_FEN": (100, int),
    "INLINE_SWEEP_SECONDS": (60, int),
    "SWEEP_INTERVAL_SECONDS": (60, int),
    "EXPORT_PROCESSES": (0, int),
    "SCAN_LIMIT_PER_CONSUMER": (30, int),   # scans per consumer per minute
    "SCAN_LIMIT_PER_IP": (120, int),        # scans per IP per minute
    "REPEAT_SCAN_WARNING": (5, int),        # scans of one code before a counterfeit warning
    # PostgreSQL's synchronous_commit for the one-statement transactions of everyday first scans
    # (loyalty/scan_statement.py); README, "Durability of first scans".
    "SCAN_SYNCHRONOUS_COMMIT": ("off", str),
}
SYNCHRONOUS_COMMIT_VALUES = ("on", "off", "local", "remote_write", "remote_apply")

GENERATED_SECRETS = ("CODE_MASTER_KEY", "ADMIN_API_KEY", "MINIAPP_SECRET", "PAYMENT_WEBHOOK_SECRET", "SECRET_KEY")


def _load_settings(app: Flask, overrides: dict | None) -> None:
    for name, (default, kind) in ENV_SETTINGS.items():
        raw = os.environ.get(name)
        app.config[name] = kind(raw) if raw not in (None, "") else default
    app.config.update(overrides or {})
    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "app.db")
    app.config["PUBLIC_BASE_URL"] = app.config["PUBLIC_BASE_URL"].rstrip("/")
    if app.config["SCAN_SYNCHRONOUS_COMMIT"] not in SYNCHRONOUS_COMMIT_VALUES:
        raise ValueError(f"SCAN_SYNCHRONOUS_COMMIT must be one of {', '.join(SYNCHRONOUS_COMMIT_VALUES)}, "
                         f"not {app.config['SCAN_SYNCHRONOUS_COMMIT']!r}")
    missing = [name for name in GENERATED_SECRETS if not app.config.get(name)]
    if missing:
        _fill_development_secrets(app, missing)
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"]


def _fill_development_secrets(app: Flask, missing: list[str]) -> None:
    """In development, generate missing secrets once into instance/secrets.json (mode 0600)."""
    if os.environ.get("APP_ENV") == "production":
        raise RuntimeError(f"APP_ENV=production but these secrets are not set: {', '.join(missing)}")
    os.makedirs(app.instance_path, exist_ok=True)
    path = os.path.join(app.instance_path, "secrets.json")
    stored = {}
    if os.path.exists(path):
        with open(path) as fh:
            stored = json.load(fh)
    changed = False
    for name in missing:
        if name not in stored:
            stored[name] = (base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
                            if name == "CODE_MASTER_KEY" else secrets.token_urlsafe(32))
            changed = True
        app.config[name] = stored[name]
    if changed:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh, indent=2)
        logging.getLogger(__name__).warning("generated development secrets into %s", path)


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus the work for the API's requests, which carry no cookie:
    the stock interface builds its signing serializer (a key derivation) before looking for one."""

    def open_session(self, app, request):
        if "HTTP_COOKIE" not in request.environ or not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.session_interface = CookieSessions()
    _load_settings(app, config)
    app.config.update(
        API_TITLE="QR trace: one item, one code",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
        OPENAPI_REDOC_PATH=None,
        MAX_CONTENT_LENGTH=4 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False

    import db
    import errors
    import jobs

    db.init_app(app)
    jobs.init_app(app)
    api = Api(app, spec_kwargs={"components": {"securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer"}}}, "security": [{"bearer": []}]})
    errors.init_app(app)  # after Api so that our handlers replace flask-smorest's

    import codes
    import identity
    import loyalty
    import storefront

    for part in (identity, codes, storefront, loyalty):
        part.init_app(app, api)

    _register_ops(app)
    _register_cli(app)
    return app


def _register_ops(app: Flask) -> None:
    import db

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        from sqlalchemy import text

        body, ok = {"db": False, "redis": "inline"}, True
        try:
            with db.engine().connect() as conn:
                conn.execute(text("SELECT 1"))
            body["db"] = True
        except Exception:
            ok = False
        if app.config.get("REDIS_URL"):
            try:
                from redis import Redis

                body["redis"] = bool(Redis.from_url(app.config["REDIS_URL"], socket_timeout=2).ping())
            except Exception:
                body["redis"], ok = False, False
        return jsonify(body), (200 if ok else 503)


def _register_cli(app: Flask) -> None:
    db_group = AppGroup("db", help="Database schema (Alembic migrations).")

    @db_group.command("upgrade")
    @click.argument("revision", default="head")
    def upgrade_command(revision):
        """Build or migrate the schema to REVISION (default: head)."""
        from migrations import upgrade

        upgrade(app.config["DATABASE_URL"], revision)
        click.echo(f"database at {revision}")

    app.cli.add_command(db_group)

    @app.cli.command("demo")
    @click.option("--host", default="127.0.0.1")
    @click.option("--port", default=5000, type=int)
    @click.option("--no-serve", is_flag=True, help="Seed and print the URLs, but do not start the server.")
    def demo_command(host, port, no_serve):
        """Migrate, seed a demo brand/product/activated batch, print URLs, and serve."""
        from migrations import upgrade
        from identity.demo import seed

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
        if not no_serve:
            from werkzeug.serving import run_simple

            click.echo(f"Serving on http://{host}:{port} (Ctrl+C to stop)")
            run_simple(host, port, app, threaded=True, use_reloader=False)
