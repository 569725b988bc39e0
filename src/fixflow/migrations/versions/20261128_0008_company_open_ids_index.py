"""a company's open tickets in id order (partial index)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 10:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The company branch of a list (one company: an equality) then reads the page in index order;
    # on (tenant, company, closed_at, id) PostgreSQL 15 sorts all the company's open tickets first.
    op.create_index(
        "ix_tickets_company_open_ids",
        "tickets",
        ["tenant_id", "company_id", "id"],
        postgresql_where=sa.text("closed_at IS NULL"),
        sqlite_where=sa.text("closed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_company_open_ids", table_name="tickets")
