"""the uploads nobody attached, oldest first (partial index)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNBOUND = "ticket_id IS NULL AND object_id IS NULL AND company_id IS NULL"


def upgrade() -> None:
    # The worker's sweep of abandoned uploads (attachments.sweep) reads these few, not every file.
    op.create_index(
        "ix_attachments_unbound",
        "attachments",
        ["created_at"],
        postgresql_where=sa.text(_UNBOUND),
        sqlite_where=sa.text(_UNBOUND),
    )


def downgrade() -> None:
    op.drop_index("ix_attachments_unbound", table_name="attachments")
