"""API keys and consumer login proofs: api_keys (several keys per brand or store, each revocable,
with when it was last used) takes over brands.key_hash and stores.key_hash, every existing hash
becoming its owner's first key; login_proofs keeps used consumer login proofs until they are too
old to be accepted anyway (their primary key makes each proof single use).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 19:30:00
"""

import secrets
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OWNERS = (("brands", "brand_id"), ("stores", "store_id"))


def upgrade():
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=True),
        sa.Column("store_id", sa.String(length=32), nullable=True),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("(brand_id IS NULL) <> (store_id IS NULL)", name=op.f("ck_api_keys_one_owner")),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_api_keys_brand_id_brands")),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name=op.f("fk_api_keys_store_id_stores")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_keys_store_id"), ["store_id"], unique=False)
    op.create_table(
        "login_proofs",
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("signature", name=op.f("pk_login_proofs")),
    )
    with op.batch_alter_table("login_proofs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_proofs_expires_at"), ["expires_at"], unique=False)

    bind = op.get_bind()
    keys = sa.table(
        "api_keys",
        sa.column("id"),
        sa.column("key_hash"),
        sa.column("brand_id"),
        sa.column("store_id"),
        sa.column("created_at"),
    )
    for table, owner_column in OWNERS:
        rows = bind.execute(sa.text(f"SELECT id, key_hash, created_at FROM {table}")).all()
        if rows:
            op.bulk_insert(
                keys,
                [
                    {"id": f"ak_{secrets.token_hex(10)}", "key_hash": key_hash, owner_column: owner, "created_at": at}
                    for owner, key_hash, at in rows
                ],
            )
    with _foreign_keys_off():
        for table, _ in OWNERS:
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.drop_constraint(f"uq_{table}_key_hash", type_="unique")
                batch_op.drop_column("key_hash")


def downgrade():
    # Each owner gets back one key, its oldest active one (NULL if none; any other keys are lost).
    with _foreign_keys_off():
        for table, _ in OWNERS:
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.add_column(sa.Column("key_hash", sa.String(length=64), nullable=True))
    for table, owner_column in OWNERS:
        op.execute(
            f"UPDATE {table} SET key_hash = (SELECT k.key_hash FROM api_keys k WHERE k.{owner_column} = {table}.id "
            "AND k.revoked_at IS NULL ORDER BY k.created_at, k.id LIMIT 1)"
        )
    with _foreign_keys_off():
        for table, _ in OWNERS:
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.create_unique_constraint(f"uq_{table}_key_hash", ["key_hash"])
    with op.batch_alter_table("login_proofs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_proofs_expires_at"))
    op.drop_table("login_proofs")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_store_id"))
        batch_op.drop_index(batch_op.f("ix_api_keys_brand_id"))
    op.drop_table("api_keys")


@contextmanager
def _foreign_keys_off():
    """SQLite rebuilds a table to drop a column; with foreign keys enforced, dropping the old brands or
    stores table would fail while other rows refer to it. The pragma takes effect only outside a
    transaction, so the one the driver has open is committed first (SQLite's DDL is not transactional
    for Alembic anyway); the references are checked after the rebuild and enforcement is restored."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    raw = bind.connection.dbapi_connection
    raw.commit()
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
        broken = raw.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"foreign keys broken by the rebuild: {broken[:5]}")
    finally:
        raw.commit()
        raw.execute("PRAGMA foreign_keys=ON")
