"""ticket number prefix search index (PostgreSQL)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 23:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # LIKE 'prefix%' can use a btree only with the C collation or a pattern-ops opclass.
        op.create_index(
            "ix_tickets_tenant_number_pattern",
            "tickets",
            ["tenant_id", "number"],
            unique=False,
            postgresql_ops={"number": "text_pattern_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_tickets_tenant_number_pattern", table_name="tickets")
