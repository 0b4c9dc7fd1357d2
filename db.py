"""Database wiring: the declarative base, one engine per app, a session per request or job (the scan
path's psycopg fast path is pgfast.py)."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
from flask import current_app, g
from sqlalchemy import Index, MetaData, create_engine, event, insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

import errors

log = logging.getLogger(__name__)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    """Naive UTC: stored the same way on SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_id(prefix: str) -> str:
    """Opaque, unguessable id with a readable prefix (br_..., st_..., ba_...)."""
    return f"{prefix}_{secrets.token_hex(10)}"


def isoformat(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, from the naive UTC datetimes we store."""
    return None if value is None else value.isoformat() + "Z"


# Connections per server process: at most POOL_SIZE + POOL_OVERFLOW for requests and AUTOCOMMIT_POOL for
# the scans' one statement (pgfast.pg_autocommit: only group-commit leaders use it, two at once under
# gevent, one with threads).
# A gevent worker takes as many requests at once as it is sent, so these, not threads, bound what it
# asks of PostgreSQL: workers x 20 + RQ workers x 2 must stay under max_connections (100 by default).
POOL_SIZE, POOL_OVERFLOW, AUTOCOMMIT_POOL = 8, 8, 4


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Let SQLAlchemy own transactions, and take the write lock at BEGIN so that
            # read-then-write sequences serialise instead of failing with "database is locked".
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
    # Many-row INSERTs as one multi-row statement (psycopg's own executemany sends a statement per row).
    engine.dialect.use_insertmanyvalues_wo_returning = True
    _check_on_checkout(engine)
    return engine


IDLE_PING_SECONDS = 10
RETRY_AFTER_SECONDS = 2  # what a request that lost the database tells its client (503)


def _check_on_checkout(engine: Engine) -> None:
    """Check each PostgreSQL connection as it leaves the pool, without a round trip unless it sat
    idle for IDLE_PING_SECONDS (pool_pre_ping would cost one per request; on a busy server the
    connections were just used):

    - always, whether the server ended it while it sat in the pool (a terminated backend, a
      restart): the server then sends a FATAL error and closes the socket. Non-blocking reads
      (`consume_input`) take in what arrived, and parsing it (`is_busy`) hands an error sent to an
      idle connection to the notice handlers, where `_closing` sees the FATAL; a second read sees
      the end of the stream if the server has closed it. Measured on the 2-core development
      machine, these checks add 2-4 us to a checkout of 8-12 us; pool_pre_ping's SELECT 1 would
      add 80-170 us;
    - after IDLE_PING_SECONDS idle, a SELECT 1 as well (a server that went away without a word).

    A dead connection is replaced: the pool discards it and checks out a new one, so the request
    never sees it. One that dies while in use raises a disconnect error (answered 503, see
    `lost_connection`), and SQLAlchemy then invalidates the whole pool."""
    import time

    from psycopg.pq import ConnStatus
    from sqlalchemy import exc

    @event.listens_for(engine, "connect")
    def _connected(dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()
        record.info["closing"] = False

        def _closing(diagnostic):  # a FATAL (or PANIC) error is the server's last word on this connection
            if diagnostic.severity_nonlocalized in ("FATAL", "PANIC"):
                record.info["closing"] = True

        dbapi_conn.add_notice_handler(_closing)

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):
        try:
            pgconn = dbapi_conn.pgconn
            pgconn.consume_input()  # what the server sent while the connection sat idle: nothing, if alive
            pgconn.is_busy()  # parses it: an error sent to an idle connection goes to the notice handlers
            pgconn.consume_input()  # the end of the stream, if the server has closed the socket after it
            if record.info.get("closing") or pgconn.status != ConnStatus.OK:
                raise exc.DisconnectionError("the server ended the connection")
            if time.monotonic() - record.info.get("idle_since", 0.0) < IDLE_PING_SECONDS:
                return
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_conn.rollback()
        except Exception as error:  # any failure means this connection is unusable
            raise exc.DisconnectionError() from error


def lost_connection(error: BaseException) -> bool:
    """Whether `error` says the database went away (a restart, a failover, a terminated backend,
    not accepting connections): a connection failure (SQLSTATE class 08, an administrator or crash
    shutdown, too many connections, or no SQLSTATE at all: the socket closed), not an error of the
    statement (a constraint, a timeout, a lock, a deadlock)."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig
    if not isinstance(error, psycopg.OperationalError):
        return False
    state = error.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03", "53300")


def sparse_index(table: str, column: str) -> Index:
    """An index of the rows where `column` is set. For a column most rows leave null (a code's case,
    the store it is bound to) it is a fraction of the size, and inserting a row that leaves the
    column null costs no index entry; a lookup by value (`column = x`) uses it all the same."""
    where = text(f"{column} IS NOT NULL")
    return Index(f"ix_{table}_{column}", column, postgresql_where=where, sqlite_where=where)


def is_postgres(session_or_engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"


def dialect_insert(session: Session, table):
    """The dialect's INSERT (with on_conflict_do_nothing / on_conflict_do_update) for this session."""
    return insert_for(session.get_bind().dialect.name, table)


def insert_for(dialect: str, table):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as chosen
    else:
        from sqlalchemy.dialects.sqlite import insert as chosen
    return chosen(table)


def insert_ignore(session: Session, table, rows: list[dict], index_elements: list[str]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on either dialect."""
    if rows:
        session.execute(dialect_insert(session, table).on_conflict_do_nothing(index_elements=index_elements), rows)


def _state(app=None):
    app = app or current_app
    return app.extensions["db"]


def init_app(app) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    autocommit = None
    if engine.dialect.name == "postgresql":  # pg_autocommit's pool: a few connections, made on first use
        autocommit = create_engine(
            engine.url,
            isolation_level="AUTOCOMMIT",
            pool_size=AUTOCOMMIT_POOL,
            max_overflow=0,
            pool_reset_on_return=None,
        )
        _check_on_checkout(autocommit)
    app.extensions["db"] = {
        "engine": engine,
        "autocommit": autocommit,
        "factory": sessionmaker(engine, expire_on_commit=False),
        "pid": os.getpid(),
    }
    app.teardown_appcontext(_close_request_session)
    app.register_error_handler(DBAPIError, _database_error)
    app.register_error_handler(psycopg.OperationalError, _database_error)  # the psycopg fast path's


def _database_error(error: Exception):
    """A request that lost the database: 503 with Retry-After (its client may try again), never a
    500; any other database error is the app's fault (500, logged)."""
    if not lost_connection(error):
        return errors.handle_unexpected(error)
    log.warning("database unavailable: %s", error.__class__.__name__, exc_info=True)
    unavailable = errors.ServiceUnavailable(RETRY_AFTER_SECONDS, "The database is unavailable; try again shortly.")
    return errors.handle_domain_error(unavailable)


def engine(app=None) -> Engine:
    return _ensure_fork_safe(app)["engine"]


def autocommit_engine(app=None) -> Engine | None:
    """On PostgreSQL, the app's small pool of autocommit connections (pgfast.pg_autocommit); else None."""
    return _ensure_fork_safe(app)["autocommit"]


def dispose(app=None) -> None:
    """Close every pooled connection of the app (its engine's and pg_autocommit's)."""
    state = _ensure_fork_safe(app)
    for found in (state["engine"], state["autocommit"]):
        if found is not None:
            found.dispose()


def _ensure_fork_safe(app=None):
    state = _state(app)
    if state["pid"] != os.getpid():  # a forked RQ work-horse or gunicorn worker
        state["engine"].dispose(close=False)
        if state["autocommit"] is not None:
            state["autocommit"].dispose(close=False)
        state["pid"] = os.getpid()
    return state


def get_session() -> Session:
    """The request's session (one per app context), closed on teardown."""
    if "db_session" not in g:
        g.db_session = _ensure_fork_safe()["factory"]()
    return g.db_session


def _close_request_session(_exc=None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


@contextmanager
def read_session(app=None) -> Iterator[Session]:
    """A session for reads that may not happen (a cache's misses): it takes a connection only when
    used, and is closed (rolled back) at the end instead of committed."""
    session = _ensure_fork_safe(app)["factory"]()
    try:
        yield session
    finally:
        session.close()


@contextmanager
def session_scope(app=None) -> Iterator[Session]:
    """A standalone session for jobs, CLI and tests: commit on success, roll back on error."""
    session = _ensure_fork_safe(app)["factory"]()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


__all__ = ["Base", "utcnow", "new_id", "get_session", "session_scope", "insert", "insert_ignore"]
