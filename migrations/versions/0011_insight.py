"""Brand insight: rollup cells of scans (insight_scan_cells), of consumers' days for exact unique and
repeat consumers (insight_consumer_days), of coupons, orders and receipts (insight_money_cells), the
rollups' watermarks, and each brand's scan-cluster thresholds (insight_cluster_rules). Diversion
alerts get their triage (status, note, triaged_at; existing alerts are open), a scan cluster's
evidence, and cluster_key, unique, so that one cluster alerts once.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

KEY = ["brand_id", "day", "region_code", "product_id", "store_id"]


def _cell():
    """A rollup cell's key columns: brand, Shanghai day, region, product, store ('' for none)."""
    return [
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
    ]


def upgrade():
    op.create_table(
        "insight_scan_cells",
        *_cell(),
        sa.Column("scans", sa.BigInteger(), nullable=False),
        sa.Column("first_scans", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_insight_scan_cells")),
    )
    op.create_table(
        "insight_consumer_days",
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("consumer_id", sa.String(length=32), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("first_scans", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "brand_id",
            "day",
            "consumer_id",
            "region_code",
            "product_id",
            "store_id",
            name=op.f("pk_insight_consumer_days"),
        ),
    )
    op.create_table(
        "insight_money_cells",
        *_cell(),
        *(
            sa.Column(name, sa.BigInteger(), nullable=False)
            for name in (
                "coupons_issued",
                "coupons_redeemed",
                "reward_cost_fen",
                "orders",
                "order_revenue_fen",
                "receipts",
                "received_items",
            )
        ),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_insight_money_cells")),
    )
    op.create_table(
        "insight_watermarks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("pending", sa.BigInteger(), nullable=True),
        sa.Column("pending_at", sa.DateTime(), nullable=True),
        sa.Column("ran_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_insight_watermarks")),
    )
    op.create_table(
        "insight_cluster_rules",
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("radius_m", sa.Integer(), nullable=False),
        sa.Column("window_minutes", sa.Integer(), nullable=False),
        sa.Column("min_consumers", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("brand_id", name=op.f("pk_insight_cluster_rules")),
    )

    with op.batch_alter_table("diversion_alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=12), server_default="open", nullable=False))
        batch_op.add_column(sa.Column("note", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("triaged_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("evidence", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("cluster_key", sa.String(length=100), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_diversion_alerts_cluster_key"), ["cluster_key"])


def downgrade():
    with op.batch_alter_table("diversion_alerts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_diversion_alerts_cluster_key"), type_="unique")
        for column in ("cluster_key", "evidence", "triaged_at", "note", "status"):
            batch_op.drop_column(column)
    for table in (
        "insight_cluster_rules",
        "insight_watermarks",
        "insight_money_cells",
        "insight_consumer_days",
        "insight_scan_cells",
    ):
        op.drop_table(table)
