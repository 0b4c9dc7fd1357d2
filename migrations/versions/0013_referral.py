"""Referral: referral_codes (one per consumer, made on first use), referral_bindings (a referee
bound once, with its referrer's referrer), referral_binding_counts (each referrer's new bindings
per day), referral_rewards (one per campaign, referee and level); settlements and payouts belong
to a store or a consumer (consumer_id beside store_id, exactly one set).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 23:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "referral_binding_counts",
        sa.Column("referrer_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("referrer_id", "day", name=op.f("pk_referral_binding_counts")),
    )
    op.create_table(
        "referral_bindings",
        sa.Column("referee_id", sa.String(length=32), nullable=False),
        sa.Column("referrer_id", sa.String(length=32), nullable=False),
        sa.Column("referrer2_id", sa.String(length=32), nullable=True),
        sa.Column("bound_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["referee_id"], ["consumers.id"], name=op.f("fk_referral_bindings_referee_id_consumers")
        ),
        sa.ForeignKeyConstraint(
            ["referrer_id"], ["consumers.id"], name=op.f("fk_referral_bindings_referrer_id_consumers")
        ),
        sa.PrimaryKeyConstraint("referee_id", name=op.f("pk_referral_bindings")),
    )
    with op.batch_alter_table("referral_bindings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referral_bindings_referrer2_id"), ["referrer2_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_referral_bindings_referrer_id"), ["referrer_id"], unique=False)

    op.create_table(
        "referral_codes",
        sa.Column("consumer_id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["consumer_id"], ["consumers.id"], name=op.f("fk_referral_codes_consumer_id_consumers")
        ),
        sa.PrimaryKeyConstraint("consumer_id", name=op.f("pk_referral_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_referral_codes_code")),
    )
    op.create_table(
        "referral_rewards",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("referee_id", sa.String(length=32), nullable=False),
        sa.Column("beneficiary_id", sa.String(length=32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reversed_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("coupon_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_referral_rewards_brand_id_brands")),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_referral_rewards_campaign_id_campaigns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_rewards")),
        sa.UniqueConstraint(
            "campaign_id", "referee_id", "level", name=op.f("uq_referral_rewards_campaign_id_referee_id_level")
        ),
    )
    with op.batch_alter_table("referral_rewards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referral_rewards_beneficiary_id"), ["beneficiary_id"], unique=False)
        batch_op.create_index("ix_referral_rewards_brand_id_created_at", ["brand_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_referral_rewards_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_referral_rewards_referee_id"), ["referee_id"], unique=False)

    for table in ("payouts", "settlements"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("consumer_id", sa.String(length=32), nullable=True))
            batch_op.alter_column("store_id", existing_type=sa.String(length=32), nullable=True)
            batch_op.create_index(batch_op.f(f"ix_{table}_consumer_id"), ["consumer_id"], unique=False)
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_consumer_id_consumers"), "consumers", ["consumer_id"], ["id"]
            )
            batch_op.create_check_constraint(
                batch_op.f(f"ck_{table}_one_owner"), "(store_id IS NULL) <> (consumer_id IS NULL)"
            )


def downgrade():
    for table in ("settlements", "payouts"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"ck_{table}_one_owner"), type_="check")
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_consumer_id_consumers"), type_="foreignkey")
            batch_op.drop_index(batch_op.f(f"ix_{table}_consumer_id"))
            batch_op.alter_column("store_id", existing_type=sa.String(length=32), nullable=False)
            batch_op.drop_column("consumer_id")
    with op.batch_alter_table("referral_rewards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_rewards_referee_id"))
        batch_op.drop_index(batch_op.f("ix_referral_rewards_order_id"))
        batch_op.drop_index("ix_referral_rewards_brand_id_created_at")
        batch_op.drop_index(batch_op.f("ix_referral_rewards_beneficiary_id"))
    op.drop_table("referral_rewards")
    op.drop_table("referral_codes")
    with op.batch_alter_table("referral_bindings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_bindings_referrer_id"))
        batch_op.drop_index(batch_op.f("ix_referral_bindings_referrer2_id"))
    op.drop_table("referral_bindings")
    op.drop_table("referral_binding_counts")
