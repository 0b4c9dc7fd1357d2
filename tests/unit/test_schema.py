"""The schema the migrations build is the one the models describe (nothing one has that the other lacks)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from db import Base, engine


def test_the_migrated_schema_matches_the_models_indexes_included(app):
    with engine(app).connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []


def test_columns_most_rows_leave_null_are_indexed_only_where_set(app):
    from sqlalchemy import inspect

    inspector = inspect(engine(app))
    for table, column in (
        ("codes", "bound_store_id"),
        ("codes", "parent_serial"),
        ("coupons", "store_id"),
        ("coupons", "redeemed_store_id"),
    ):
        index = next(i for i in inspector.get_indexes(table) if i["name"] == f"ix_{table}_{column}")
        where = index.get("dialect_options", {})
        predicate = where.get("postgresql_where") or where.get("sqlite_where")
        assert predicate is not None and "IS NOT NULL" in str(predicate).upper(), (table, column, index)
