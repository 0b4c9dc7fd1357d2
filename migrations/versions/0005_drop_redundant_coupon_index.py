"""coupons: drop ix_coupons_campaign_id; the unique (campaign_id, serial, kind) index leads with the
same column and serves every lookup by campaign, and each coupon a scan issues updated both

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 03:30:00
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupons_campaign_id"))


def downgrade():
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coupons_campaign_id"), ["campaign_id"], unique=False)
