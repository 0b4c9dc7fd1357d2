"""cache_versions: change counters for the rows each process caches (codes/catalog.py)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        "cache_versions",
        sa.Column("area", sa.String(length=20), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("area", name=op.f("pk_cache_versions")),
    )
    op.bulk_insert(table, [{"area": area, "version": 0} for area in ("keys", "ranges", "campaigns", "blacklist")])


def downgrade():
    op.drop_table("cache_versions")
