"""Test wiring: one migrated database per session (SQLite file or a scratch PostgreSQL database),
emptied after every test; jobs run inline, or through RQ when REDIS_URL is set.

    pytest                                   # SQLite, inline jobs
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/test REDIS_URL=redis://127.0.0.1:6379/0 pytest
"""
from __future__ import annotations

import os
import tempfile

import pytest
from sqlalchemy import create_engine, text

from tests.factories import Api

ADMIN_KEY = "test-admin-key"
MINIAPP_SECRET = "test-miniapp-secret"
WEBHOOK_SECRET = "test-webhook-secret"
MASTER_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # 32 bytes, base64url


def _scratch_postgres(url: str) -> str:
    """A fresh database beside the one named in DATABASE_URL, so tests never touch real data."""
    base, _, name = url.rpartition("/")
    scratch = f"{name}_pytest_{os.getpid()}"
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{scratch}"'))
    admin.dispose()
    return f"{base}/{scratch}"


def _drop_postgres(url: str) -> None:
    base, _, name = url.rpartition("/")
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url():
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgresql"):
        scratch = _scratch_postgres(url)
        yield scratch
        _drop_postgres(scratch)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/test.db"


@pytest.fixture(scope="session")
def app(database_url):
    from app import create_app
    from migrations import upgrade

    upgrade(database_url)  # tests build the schema exactly as `flask db upgrade` does
    config = {
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
        "SCAN_LIMIT_PER_CONSUMER": 100_000,   # throttling tests lower these themselves
        "SCAN_LIMIT_PER_IP": 100_000,
    }
    application = create_app(config)
    yield application


@pytest.fixture(autouse=True)
def _clean_tables(request):
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    import db
    from codes import keys

    keys._cache.clear()
    app.extensions.pop("catalog", None)   # its copies describe the rows about to be wiped
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
