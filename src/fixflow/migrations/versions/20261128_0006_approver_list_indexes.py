"""list-shaped indexes for the approval scopes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 01:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Each visibility scope runs as its own "newest first" index scan; the approval ones had only
    # single-column indexes, so SQLite walked the tenant's open tickets instead.
    op.create_index(
        "ix_tickets_approver_member_open", "tickets", ["tenant_id", "approver_member_id", "closed_at", "id"]
    )
    op.create_index(
        "ix_tickets_approver_role_open", "tickets", ["tenant_id", "approver_role_id", "closed_at", "id"]
    )
    op.drop_index("ix_tickets_approver_member", table_name="tickets")
    op.drop_index("ix_tickets_approver_role_id", table_name="tickets")


def downgrade() -> None:
    op.create_index("ix_tickets_approver_role_id", "tickets", ["approver_role_id"])
    op.create_index("ix_tickets_approver_member", "tickets", ["approver_member_id"])
    op.drop_index("ix_tickets_approver_role_open", table_name="tickets")
    op.drop_index("ix_tickets_approver_member_open", table_name="tickets")
