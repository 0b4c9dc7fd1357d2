"""The scan path's psycopg fast path: fixed PostgreSQL texts run on the psycopg connection under a
session's transaction (or on an autocommit connection of their own), a batch's rows passed as one
JSON parameter, and writes whose results nobody reads sent together in one round trip."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime

from psycopg.pq import TransactionStatus
from sqlalchemy.orm import Session

from db import autocommit_engine


def pg_connection(session: Session):
    """The psycopg connection under the session's transaction on PostgreSQL, else None.

    The scan path's hottest statements run on it directly as fixed SQL texts, prepared on the
    server once per connection, with a batch's rows passed as one JSON parameter (see
    pg_insert_json). Through SQLAlchemy, a multi-row statement is rebuilt for every row count and
    each value passes through Python-level bind processing; psycopg's own array parameters are
    dumped in Python too. Either costs more than PostgreSQL takes to run the statement. Callers
    keep the SQLAlchemy Core form for SQLite; the test suite runs both."""
    conn = session.connection()
    return conn.connection.driver_connection if conn.dialect.name == "postgresql" else None


def pg_run(raw, sql: str, params=None):
    """Execute a fixed statement, prepared on the server (its text never varies with the data)."""
    return raw.execute(sql, params, prepare=True)


def pg_first(raw, sql: str, params=None):
    """pg_run for what may be a transaction's first statement: its BEGIN goes out in the same round
    trip (a psycopg pipeline) instead of one of its own."""
    if raw.info.transaction_status != TransactionStatus.IDLE:
        return pg_run(raw, sql, params)
    with raw.pipeline():
        cursor = pg_run(raw, sql, params)
    return cursor


@contextmanager
def pg_autocommit(app=None):
    """A psycopg connection in autocommit mode, where each statement is its own transaction
    (loyalty/scanning/statement.py), from a small pool of such connections beside the engine's: no mode
    to set and reset per use, and nothing to roll back on return. A connection that broke on the
    way (psycopg's own errors pass SQLAlchemy by) is dropped from the pool instead."""
    pooled = autocommit_engine(app).raw_connection()
    raw = pooled.driver_connection
    try:
        yield raw
    finally:
        # Broken, or left mid-statement (a greenlet killed while it waited): never hand it out again.
        if raw.closed or raw.broken or raw.info.transaction_status != TransactionStatus.IDLE:
            pooled.invalidate()
        pooled.close()


def pg_text(statement) -> str:
    """A SQLAlchemy Core statement's PostgreSQL text, for pg_run (its bind parameters must be named:
    they become %(name)s), so that a statement is defined once for both paths."""
    from sqlalchemy.dialects import postgresql

    return str(statement.compile(dialect=postgresql.dialect()))


def pg_insert_json(table, names: tuple[str, ...], suffix: str = "", param: str = "%s") -> str:
    """INSERT INTO table (names) of the rows in one JSON array parameter (see json_rows), each
    column read as the table's own type. `suffix` follows the SELECT (a WHERE, ON CONFLICT, RETURNING)."""
    listed = ", ".join(names)
    return f"INSERT INTO {table.name} ({listed}) SELECT {listed} FROM {pg_recordset(table, names, param)}{suffix}"


def pg_recordset(table, names: tuple[str, ...], param: str = "%s", alias: str = "x", extra: str = "") -> str:
    """The rows of one JSON array parameter as a FROM item, each named column typed as in `table`;
    `extra`: more fields that are no column of it ("name type, ...")."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    columns = [f"{name} {table.c[name].type.compile(dialect=dialect)}" for name in names]
    spec = ", ".join(columns + [extra] * bool(extra))
    return f"json_to_recordset({param}::json) AS {alias}({spec})"


def _json_value(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a column value")


def json_array(rows: list[dict]) -> str:
    """The row dicts as one JSON array (keys that are not columns are ignored)."""
    return json.dumps(rows, default=_json_value)


def json_rows(rows: list[dict]) -> list[str]:
    """pg_insert_json's parameters."""
    return [json_array(rows)]


class Writes:
    """Writes of one transaction whose results nobody reads. On PostgreSQL they wait and go out with
    the next statement sent through `send`, or at `finish`, in one pipeline: one round trip for all.
    Elsewhere each runs as it is added. Either way they run in the order added, before the commit
    (`finish` must be called before committing)."""

    def __init__(self, session: Session):
        self.session, self.raw = session, pg_connection(session)
        self._queued: list[tuple[str, object]] = []

    def add(self, pg_sql: str, pg_params, statement, params) -> None:
        """A write as a fixed PostgreSQL text (and its parameters) and as a SQLAlchemy statement."""
        if self.raw is None:
            self.session.connection().execute(statement, params)
        else:
            self._queued.append((pg_sql, pg_params))

    def send(self, pg_sql: str, pg_params):
        """PostgreSQL only: the queued writes, then this statement, in one round trip; its cursor."""
        with self.raw.pipeline():
            self._run_queued()
            return pg_run(self.raw, pg_sql, pg_params)

    def finish(self) -> None:
        if self._queued:
            with self.raw.pipeline():
                self._run_queued()

    def _run_queued(self) -> None:
        for sql, params in self._queued:
            pg_run(self.raw, sql, params)
        self._queued.clear()
