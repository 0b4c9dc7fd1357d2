"""PostgreSQL: scan_batch_refused(reason, detail), which raises SQLSTATE QR001. The one-statement scan batch
(now loyalty/scanning/statement.py) calls it to undo the whole statement when the batch needs the general
path: the process's catalog was stale, or a campaign could not take every prize of the batch

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 10:00:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION scan_batch_refused(reason text, detail text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            RAISE EXCEPTION USING ERRCODE = 'QR001', MESSAGE = 'scan batch refused: ' || reason,
                                  DETAIL = coalesce(detail, '');
        END
        $$
    """)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION scan_batch_refused(text, text)")
