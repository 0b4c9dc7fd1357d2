"""GTIN ownership: gtins (one owning brand per GTIN) and gs1_prefixes (GS1 company prefixes the
operator assigned to brands). Existing products' GTINs go to the brand that registered each first.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 19:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "gtins",
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_gtins_brand_id_brands")),
        sa.PrimaryKeyConstraint("gtin", name=op.f("pk_gtins")),
    )
    with op.batch_alter_table("gtins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gtins_brand_id"), ["brand_id"], unique=False)
    op.create_table(
        "gs1_prefixes",
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_gs1_prefixes_brand_id_brands")),
        sa.PrimaryKeyConstraint("prefix", name=op.f("pk_gs1_prefixes")),
    )
    with op.batch_alter_table("gs1_prefixes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gs1_prefixes_brand_id"), ["brand_id"], unique=False)
    # Each GTIN already in use belongs to the brand whose product registered it first (ties: lowest id).
    op.execute(
        "INSERT INTO gtins (gtin, brand_id, created_at) "
        "SELECT p.gtin, p.brand_id, p.created_at FROM products p WHERE p.gtin IS NOT NULL AND NOT EXISTS ("
        "SELECT 1 FROM products q WHERE q.gtin = p.gtin"
        " AND (q.created_at < p.created_at OR (q.created_at = p.created_at AND q.id < p.id)))"
    )


def downgrade():
    with op.batch_alter_table("gs1_prefixes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gs1_prefixes_brand_id"))
    op.drop_table("gs1_prefixes")
    with op.batch_alter_table("gtins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gtins_brand_id"))
    op.drop_table("gtins")
