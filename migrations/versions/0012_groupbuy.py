"""Group-buy: buy_groups (seats counted on the row, bounded by CHECKs) and buy_group_members (one
seat per consumer and group, through its order); orders.group_id (a group-buy seat's order).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "buy_groups",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("opener_id", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("seats_taken", sa.Integer(), nullable=False),
        sa.Column("members_paid", sa.Integer(), nullable=False),
        sa.Column("virtual_members", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("split_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("seats_taken >= 0 AND seats_taken <= size", name=op.f("ck_buy_groups_seats_within_size")),
        sa.CheckConstraint("members_paid >= 0 AND members_paid <= size", name=op.f("ck_buy_groups_paid_within_size")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_buy_groups_campaign_id_campaigns")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buy_groups")),
    )
    with op.batch_alter_table("buy_groups", schema=None) as batch_op:
        batch_op.create_index("ix_buy_groups_status_expires_at", ["status", "expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_buy_groups_campaign_id"), ["campaign_id"], unique=False)

    op.create_table(
        "buy_group_members",
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("consumer_id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("paid", sa.Boolean(), nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["buy_groups.id"], name=op.f("fk_buy_group_members_group_id_buy_groups")),
        sa.PrimaryKeyConstraint("group_id", "consumer_id", name=op.f("pk_buy_group_members")),
        sa.UniqueConstraint("order_id", name=op.f("uq_buy_group_members_order_id")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group_id", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_orders_group_id"), ["group_id"], unique=False)


def downgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_group_id"))
        batch_op.drop_column("group_id")
    op.drop_table("buy_group_members")
    with op.batch_alter_table("buy_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_buy_groups_campaign_id"))
        batch_op.drop_index("ix_buy_groups_status_expires_at")
    op.drop_table("buy_groups")
