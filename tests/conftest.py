"""Test wiring: one migrated database per session (SQLite file or a scratch PostgreSQL database),
emptied after every test; jobs run inline, or through RQ when REDIS_URL is set.

    pytest                                   # SQLite, inline jobs
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/test REDIS_URL=redis://127.0.0.1:6379/0 pytest
"""

from __future__ import annotations

import os
import tempfile

import pytest
from sqlalchemy import text

from bench.support import scratch_database
from tests.factories import Api, ErrorShapeCheckingClient

ADMIN_KEY = "test-admin-key"
MINIAPP_SECRET = "test-miniapp-secret"
WEBHOOK_SECRET = "test-webhook-secret"
MASTER_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # 32 bytes, base64url


@pytest.fixture(scope="session")
def database_url():
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgresql"):
        with scratch_database(url, f"pytest_{os.getpid()}") as scratch:  # tests never touch real data
            yield scratch
    else:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/test.db"


@pytest.fixture(scope="session")
def app_settings(database_url) -> dict:
    """What the test app is built with (and a second_app, and a served app's environment)."""
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "RQ_IS_ASYNC": False,
        "ADMIN_API_KEY": ADMIN_KEY,
        "MINIAPP_SECRET": MINIAPP_SECRET,
        "PAYMENT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CODE_MASTER_KEY": MASTER_KEY,
        "SECRET_KEY": "test-secret-key",
        "PUBLIC_BASE_URL": "https://qr.example.com",
        "EXPORT_PROCESSES": 1,
        "SCAN_LIMIT_PER_CONSUMER": 100_000,  # throttling tests lower these themselves
        "SCAN_LIMIT_PER_IP": 100_000,
    }


@pytest.fixture(scope="session")
def app(app_settings):
    from app import create_app
    from migrations import upgrade

    upgrade(app_settings["DATABASE_URL"])  # tests build the schema exactly as `flask db upgrade` does
    yield create_app(app_settings)


@pytest.fixture(scope="session", autouse=True)
def _errors_as_documented():
    """Every test client holds each error answer on /api/ to the OpenAPI document's error schema."""
    from flask import Flask

    before, Flask.test_client_class = Flask.test_client_class, ErrorShapeCheckingClient
    yield
    Flask.test_client_class = before


@pytest.fixture
def second_app(app, app_settings):
    """Another app over the same database: its own group commit and catalog, like a second worker."""
    import db
    from app import create_app

    other = create_app(app_settings)
    yield other
    db.dispose(other)


@pytest.fixture(autouse=True)
def _clean_tables(request):
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    import db
    from codes import keys

    keys._cache.clear()
    app.extensions.pop("catalog", None)  # its copies describe the rows about to be wiped
    tables = [t for t in reversed(db.Base.metadata.sorted_tables) if t.name != "serial_counter"]
    engine = db.engine(app)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(app, client):
    return Api(app, client)


@pytest.fixture
def is_postgres(app):
    import db

    return db.engine(app).dialect.name == "postgresql"


@pytest.fixture
def postgres_only(is_postgres):
    if not is_postgres:
        pytest.skip("needs PostgreSQL (run with DATABASE_URL=postgresql+psycopg://...)")
