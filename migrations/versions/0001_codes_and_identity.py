"""codes and identity

Revision ID: 0001
Revises:
Create Date: 2026-11-21 22:51:39.715893
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "brands",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brands")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_brands_key_hash")),
    )
    op.create_table(
        "code_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_events")),
    )
    with op.batch_alter_table("code_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_code_events_serial"), ["serial"], unique=False)

    op.create_table(
        "consumers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("openid", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consumers")),
        sa.UniqueConstraint("openid", name=op.f("uq_consumers_openid")),
    )
    op.create_table(
        "serial_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("next_serial", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_serial_counter")),
    )
    op.create_table(
        "stores",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("owner_phone", sa.String(length=32), nullable=True),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stores")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_stores_key_hash")),
    )
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stores_region_code"), ["region_code"], unique=False)

    op.create_table(
        "partnerships",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_partnerships_brand_id_brands")),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name=op.f("fk_partnerships_store_id_stores")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partnerships")),
        sa.UniqueConstraint("brand_id", "store_id", name=op.f("uq_partnerships_brand_id_store_id")),
    )
    with op.batch_alter_table("partnerships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partnerships_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_partnerships_store_id"), ["store_id"], unique=False)

    op.create_table(
        "products",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("cost_fen", sa.BigInteger(), nullable=True),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_products_brand_id_brands")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("brand_id", "sku", name=op.f("uq_products_brand_id_sku")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_products_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "signing_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_signing_keys_brand_id_brands")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_keys")),
    )
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signing_keys_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "batches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("serial_from", sa.BigInteger(), nullable=False),
        sa.Column("serial_to", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("lot", sa.String(length=20), nullable=False),
        sa.Column("produced_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("region_codes", sa.JSON(), nullable=False),
        sa.Column("distributor", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_batches_brand_id_brands")),
        sa.ForeignKeyConstraint(["key_id"], ["signing_keys.id"], name=op.f("fk_batches_key_id_signing_keys")),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_batches_product_id_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
        sa.UniqueConstraint("serial_from", name=op.f("uq_batches_serial_from")),
    )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batches_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_batches_product_id"), ["product_id"], unique=False)

    op.create_table(
        "code_ranges",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("serial_from", sa.BigInteger(), nullable=False),
        sa.Column("serial_to", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name=op.f("fk_code_ranges_batch_id_batches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_ranges")),
    )
    with op.batch_alter_table("code_ranges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_code_ranges_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "codes",
        sa.Column("serial", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("parent_serial", sa.BigInteger(), nullable=True),
        sa.Column("bound_store_id", sa.String(length=32), nullable=True),
        sa.Column("bound_at", sa.DateTime(), nullable=True),
        sa.Column("scan_count", sa.Integer(), nullable=False),
        sa.Column("first_scan_at", sa.DateTime(), nullable=True),
        sa.Column("first_scan_lat", sa.Float(), nullable=True),
        sa.Column("first_scan_lng", sa.Float(), nullable=True),
        sa.Column("claimed_by", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name=op.f("fk_codes_batch_id_batches")),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_codes")),
    )
    with op.batch_alter_table("codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_codes_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_codes_bound_store_id"), ["bound_store_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_codes_claimed_by"), ["claimed_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_codes_parent_serial"), ["parent_serial"], unique=False)
    op.execute("INSERT INTO serial_counter (id, next_serial) VALUES (1, 1)")


def downgrade():
    with op.batch_alter_table("codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_codes_parent_serial"))
        batch_op.drop_index(batch_op.f("ix_codes_claimed_by"))
        batch_op.drop_index(batch_op.f("ix_codes_bound_store_id"))
        batch_op.drop_index(batch_op.f("ix_codes_batch_id"))

    op.drop_table("codes")
    with op.batch_alter_table("code_ranges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_code_ranges_batch_id"))

    op.drop_table("code_ranges")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batches_product_id"))
        batch_op.drop_index(batch_op.f("ix_batches_brand_id"))

    op.drop_table("batches")
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signing_keys_brand_id"))

    op.drop_table("signing_keys")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_products_brand_id"))

    op.drop_table("products")
    with op.batch_alter_table("partnerships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partnerships_store_id"))
        batch_op.drop_index(batch_op.f("ix_partnerships_brand_id"))

    op.drop_table("partnerships")
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stores_region_code"))

    op.drop_table("stores")
    op.drop_table("serial_counter")
    op.drop_table("consumers")
    with op.batch_alter_table("code_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_code_events_serial"))

    op.drop_table("code_events")
    op.drop_table("brands")
