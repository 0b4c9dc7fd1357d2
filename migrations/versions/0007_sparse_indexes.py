"""Partial indexes (WHERE col IS NOT NULL) for columns most rows leave null: codes.parent_serial
and codes.bound_store_id (a code scanned off the shelf has neither), coupons.store_id (only store
coupons) and coupons.redeemed_store_id (only redeemed coupons). Every first scan inserts a code
row and most issue a coupon; a full index took an entry for each null

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 04:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SPARSE = (
    ("codes", "parent_serial"),
    ("codes", "bound_store_id"),
    ("coupons", "store_id"),
    ("coupons", "redeemed_store_id"),
)


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # Built beside the old index without blocking writes (a plain DROP + CREATE would hold an
        # exclusive lock on codes and coupons, stalling scans, for the whole build), then swapped in.
        with op.get_context().autocommit_block():
            for table, column in SPARSE:
                name = f"ix_{table}_{column}"
                op.create_index(
                    f"{name}_set",
                    table,
                    [column],
                    postgresql_where=sa.text(f"{column} IS NOT NULL"),
                    postgresql_concurrently=True,
                )
                op.drop_index(name, table_name=table, postgresql_concurrently=True)
                op.execute(f"ALTER INDEX {name}_set RENAME TO {name}")
        return
    for table, column in SPARSE:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
        op.create_index(f"ix_{table}_{column}", table, [column], sqlite_where=sa.text(f"{column} IS NOT NULL"))


def downgrade():
    for table, column in SPARSE:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
        op.create_index(f"ix_{table}_{column}", table, [column])
