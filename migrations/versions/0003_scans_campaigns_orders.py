"""scans, campaigns, coupons, orders, settlement

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 23:33:07.418374
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "scans",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("consumer_id", sa.String(length=32), nullable=True),
        sa.Column("serial", sa.BigInteger(), nullable=True),
        sa.Column("batch_id", sa.String(length=32), nullable=True),
        sa.Column("brand_id", sa.String(length=32), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("claimed", sa.Boolean(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scans_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_scans_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scans_consumer_id"), ["consumer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scans_serial"), ["serial"], unique=False)

    op.create_table(
        "blacklist",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("consumer_id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_blacklist_brand_id_brands")),
        sa.ForeignKeyConstraint(["consumer_id"], ["consumers.id"], name=op.f("fk_blacklist_consumer_id_consumers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blacklist")),
        sa.UniqueConstraint("brand_id", "consumer_id", name=op.f("uq_blacklist_brand_id_consumer_id")),
    )
    with op.batch_alter_table("blacklist", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blacklist_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("product_ids", sa.JSON(), nullable=False),
        sa.Column("region_codes", sa.JSON(), nullable=False),
        sa.Column("budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("committed_fen", sa.BigInteger(), nullable=False),
        sa.Column("spent_fen", sa.BigInteger(), nullable=False),
        sa.Column("released_fen", sa.BigInteger(), nullable=False),
        sa.Column("max_rewards", sa.Integer(), nullable=True),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("per_consumer_daily", sa.Integer(), nullable=True),
        sa.Column("per_consumer_total", sa.Integer(), nullable=True),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("seed", sa.LargeBinary(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_campaigns_brand_id_brands")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaigns_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "daily_rebate_runs",
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("stores", sa.Integer(), nullable=False),
        sa.Column("credited_fen", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_daily_rebate_runs_brand_id_brands")),
        sa.PrimaryKeyConstraint("brand_id", "day", name=op.f("pk_daily_rebate_runs")),
    )
    op.create_table(
        "diversion_alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=True),
        sa.Column("expected_regions", sa.JSON(), nullable=False),
        sa.Column("seen_region", sa.String(length=6), nullable=True),
        sa.Column("distributor", sa.String(length=200), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_diversion_alerts_brand_id_brands")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_diversion_alerts")),
    )
    with op.batch_alter_table("diversion_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_diversion_alerts_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("consumer_id", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("subtotal_fen", sa.BigInteger(), nullable=False),
        sa.Column("discount_fen", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("coupon_id", sa.String(length=32), nullable=True),
        sa.Column("referrer_id", sa.String(length=32), nullable=True),
        sa.Column("referrer2_id", sa.String(length=32), nullable=True),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("split", sa.JSON(), nullable=False),
        sa.Column("refund", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("paid_at", sa.DateTime(), nullable=True),
        sa.Column("refunded_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_orders_brand_id_brands")),
        sa.ForeignKeyConstraint(["consumer_id"], ["consumers.id"], name=op.f("fk_orders_consumer_id_consumers")),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name=op.f("fk_orders_store_id_stores")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_orders_transaction_id")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_consumer_id"), ["consumer_id"], unique=False)
        batch_op.create_index("ix_orders_status_expires_at", ["status", "expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_store_id"), ["store_id"], unique=False)

    op.create_table(
        "rebate_policies",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("per_scan_fen", sa.BigInteger(), nullable=False),
        sa.Column("per_receipt_item_fen", sa.BigInteger(), nullable=False),
        sa.Column("daily_tiers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_rebate_policies_brand_id_brands")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rebate_policies")),
    )
    with op.batch_alter_table("rebate_policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rebate_policies_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "receipts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_serial", sa.BigInteger(), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("rebate_fen", sa.BigInteger(), nullable=False),
        sa.Column("diversion", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_receipts_brand_id_brands")),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name=op.f("fk_receipts_store_id_stores")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
        sa.UniqueConstraint("case_serial", name=op.f("uq_receipts_case_serial")),
    )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receipts_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipts_store_id"), ["store_id"], unique=False)

    op.create_table(
        "settlements",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("source_key", sa.String(length=255), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("settled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name=op.f("fk_settlements_store_id_stores")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
        sa.UniqueConstraint("source_key", name=op.f("uq_settlements_source_key")),
    )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.create_index("ix_settlements_status_due_at", ["status", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_settlements_store_id"), ["store_id"], unique=False)

    op.create_table(
        "split_rules",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=True),
        sa.Column("store_bp", sa.Integer(), nullable=False),
        sa.Column("platform_bp", sa.Integer(), nullable=False),
        sa.Column("referrer_bp", sa.Integer(), nullable=False),
        sa.Column("referrer2_bp", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_split_rules_brand_id_brands")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_split_rules")),
    )
    with op.batch_alter_table("split_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_split_rules_brand_id"), ["brand_id"], unique=False)

    op.create_table(
        "campaign_consumer_counts",
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("consumer_id", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_consumer_counts_campaign_id_campaigns")
        ),
        sa.PrimaryKeyConstraint("campaign_id", "consumer_id", "period", name=op.f("pk_campaign_consumer_counts")),
    )
    op.create_table(
        "campaign_tier_counts",
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_tier_counts_campaign_id_campaigns")
        ),
        sa.PrimaryKeyConstraint("campaign_id", "tier", name=op.f("pk_campaign_tier_counts")),
    )
    op.create_table(
        "coupons",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("consumer_id", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=True),
        sa.Column("serial", sa.BigInteger(), nullable=True),
        sa.Column("tier", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value_fen", sa.BigInteger(), nullable=False),
        sa.Column("budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("min_spend_fen", sa.BigInteger(), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=True),
        sa.Column("product_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(), nullable=True),
        sa.Column("redeemed_store_id", sa.String(length=32), nullable=True),
        sa.Column("reimbursed_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_coupons_brand_id_brands")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_coupons_campaign_id_campaigns")),
        sa.ForeignKeyConstraint(["consumer_id"], ["consumers.id"], name=op.f("fk_coupons_consumer_id_consumers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
        sa.UniqueConstraint("campaign_id", "serial", "kind", name=op.f("uq_coupons_campaign_id_serial_kind")),
        sa.UniqueConstraint("code", name=op.f("uq_coupons_code")),
    )
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coupons_brand_id"), ["brand_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_coupons_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_coupons_consumer_id"), ["consumer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_coupons_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_coupons_redeemed_store_id"), ["redeemed_store_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_coupons_serial"), ["serial"], unique=False)
        batch_op.create_index(batch_op.f("ix_coupons_store_id"), ["store_id"], unique=False)


def downgrade():
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupons_store_id"))
        batch_op.drop_index(batch_op.f("ix_coupons_serial"))
        batch_op.drop_index(batch_op.f("ix_coupons_redeemed_store_id"))
        batch_op.drop_index(batch_op.f("ix_coupons_expires_at"))
        batch_op.drop_index(batch_op.f("ix_coupons_consumer_id"))
        batch_op.drop_index(batch_op.f("ix_coupons_campaign_id"))
        batch_op.drop_index(batch_op.f("ix_coupons_brand_id"))

    op.drop_table("coupons")
    op.drop_table("campaign_tier_counts")
    op.drop_table("campaign_consumer_counts")
    with op.batch_alter_table("split_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_split_rules_brand_id"))

    op.drop_table("split_rules")
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlements_store_id"))
        batch_op.drop_index("ix_settlements_status_due_at")

    op.drop_table("settlements")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipts_store_id"))
        batch_op.drop_index(batch_op.f("ix_receipts_brand_id"))

    op.drop_table("receipts")
    with op.batch_alter_table("rebate_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rebate_policies_brand_id"))

    op.drop_table("rebate_policies")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_store_id"))
        batch_op.drop_index("ix_orders_status_expires_at")
        batch_op.drop_index(batch_op.f("ix_orders_consumer_id"))
        batch_op.drop_index(batch_op.f("ix_orders_brand_id"))

    op.drop_table("orders")
    with op.batch_alter_table("diversion_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_diversion_alerts_brand_id"))

    op.drop_table("diversion_alerts")
    op.drop_table("daily_rebate_runs")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_brand_id"))

    op.drop_table("campaigns")
    with op.batch_alter_table("blacklist", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blacklist_brand_id"))

    op.drop_table("blacklist")
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scans_serial"))
        batch_op.drop_index(batch_op.f("ix_scans_consumer_id"))
        batch_op.drop_index(batch_op.f("ix_scans_brand_id"))
        batch_op.drop_index(batch_op.f("ix_scans_at"))

    op.drop_table("scans")
