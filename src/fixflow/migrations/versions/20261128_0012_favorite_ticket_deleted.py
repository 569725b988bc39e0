"""favourites know whether their ticket is deleted

Adds favorites.ticket_deleted (filled from the tickets), rebuilds the favourites' index to include it
and drops ix_tickets_deleted, which only the favourites counter used. Favourites are few (60k on the
1M-ticket benchmark: well under a second).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _favourites_index(included: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no INCLUDE: its index stays as it is
    op.drop_index("ix_favorites_member_ticket", table_name="favorites")
    op.create_index(
        "ix_favorites_member_ticket",
        "favorites",
        ["member_id", "ticket_id"],
        unique=True,
        postgresql_include=included,
    )


def upgrade() -> None:
    with op.batch_alter_table("favorites") as batch:
        batch.add_column(sa.Column("ticket_deleted", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(
        "UPDATE favorites SET ticket_deleted = true WHERE ticket_id IN "
        "(SELECT id FROM tickets WHERE deleted_at IS NOT NULL)"
    )
    _favourites_index(["tenant_id", "ticket_deleted"])
    op.drop_index("ix_tickets_deleted", table_name="tickets")


def downgrade() -> None:
    op.create_index(
        "ix_tickets_deleted",
        "tickets",
        ["tenant_id", "id"],
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
        sqlite_where=sa.text("deleted_at IS NOT NULL"),
    )
    _favourites_index(["tenant_id"])
    with op.batch_alter_table("favorites") as batch:
        batch.drop_column("ticket_deleted")
