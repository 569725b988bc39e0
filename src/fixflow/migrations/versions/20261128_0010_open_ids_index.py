"""the tenant's open tickets in id order (partial covering index)

Builds one index on tickets (1M tickets, 30 % open: ≈ 1 s on PostgreSQL), holding writes to the table
meanwhile.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A dispatcher's «all» list and counter: after `closed_at IS NULL` as a condition on
    # ix_tickets_tenant_open PostgreSQL 15 no longer takes the id order, so it walked the primary key
    # backwards and filtered out every closed ticket on the way.
    op.create_index(
        "ix_tickets_open_ids",
        "tickets",
        ["tenant_id", "id"],
        postgresql_where=sa.text("closed_at IS NULL"),
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_include=["deleted_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_open_ids", table_name="tickets")
