"""Insight: each consumer's days with a brand as bits per 63-day block, in two phases
(insight_consumer_marks) and each
brand's distinct consumers per day (insight_brand_days), so that unique and repeat consumers of a
brand's window come from one row per consumer. The rollups are emptied with their watermarks: the
next `rollups` sweep rebuilds every table from the raw rows, the new ones included (and order
figures with the refund rule of docs/insight.md).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ROLLUPS = ("insight_scan_cells", "insight_consumer_days", "insight_money_cells", "insight_watermarks")


def upgrade():
    op.create_table(
        "insight_consumer_marks",
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("consumer_id", sa.String(length=32), nullable=False),
        sa.Column("seen", sa.BigInteger(), nullable=False),
        sa.Column("firsts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("brand_id", "phase", "block", "consumer_id", name=op.f("pk_insight_consumer_marks")),
    )
    op.create_table(
        "insight_brand_days",
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("consumers", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("brand_id", "day", name=op.f("pk_insight_brand_days")),
    )
    for table in ROLLUPS:
        op.execute(f"DELETE FROM {table}")


def downgrade():
    op.drop_table("insight_brand_days")
    op.drop_table("insight_consumer_marks")
