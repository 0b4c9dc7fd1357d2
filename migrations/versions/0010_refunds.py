"""Refunds and provider facts: refunds (requested -> approved -> processing -> succeeded | failed,
or rejected), provider_transactions (every signed payment notice, kept before anything else, and
every refund the provider confirmed), the simulated provider's own books (simulated_charges,
simulated_refunds); orders.refunded_fen and a wider orders.status; settlements.reversed_fen
(refunded from pending before settling) and settlements.holds (open refunds keeping a credit
from settling).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "provider_transactions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("refund_id", sa.String(length=32), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_transactions")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_provider_transactions_transaction_id")),
    )
    with op.batch_alter_table("provider_transactions", schema=None) as batch_op:
        batch_op.create_index("ix_provider_transactions_day", ["day"], unique=False)
        batch_op.create_index(batch_op.f("ix_provider_transactions_order_id"), ["order_id"], unique=False)

    op.create_table(
        "refunds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("consumer_id", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("system", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("decided_by", sa.String(length=8), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("hold_transfer_id", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("provider_ref", sa.String(length=64), nullable=True),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_refunds_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index("ix_refunds_status_due_at", ["status", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_consumer_id"), ["consumer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_store_id"), ["store_id"], unique=False)

    op.create_table(
        "simulated_charges",
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_simulated_charges")),
    )
    op.create_table(
        "simulated_refunds",
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_simulated_refunds")),
        sa.UniqueConstraint("id", name=op.f("uq_simulated_refunds_id")),
    )
    with op.batch_alter_table("simulated_refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_simulated_refunds_transaction_id"), ["transaction_id"], unique=False)

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refunded_fen", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.alter_column(  # "partially_refunded"
            "status", existing_type=sa.String(length=16), type_=sa.String(length=20), existing_nullable=False
        )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reversed_fen", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("holds", sa.Integer(), nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_column("holds")
        batch_op.drop_column("reversed_fen")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.alter_column(
            "status", existing_type=sa.String(length=20), type_=sa.String(length=16), existing_nullable=False
        )
        batch_op.drop_column("refunded_fen")
    with op.batch_alter_table("simulated_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_simulated_refunds_transaction_id"))
    op.drop_table("simulated_refunds")
    op.drop_table("simulated_charges")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refunds_store_id"))
        batch_op.drop_index(batch_op.f("ix_refunds_consumer_id"))
        batch_op.drop_index(batch_op.f("ix_refunds_order_id"))
        batch_op.drop_index("ix_refunds_status_due_at")
    op.drop_table("refunds")
    with op.batch_alter_table("provider_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_transactions_order_id"))
        batch_op.drop_index("ix_provider_transactions_day")
    op.drop_table("provider_transactions")
