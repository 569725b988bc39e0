"""object subtree index for prefix ranges (PostgreSQL)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 08:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # A subtree is a path-prefix range; under a non-C collation only a pattern-ops opclass orders
        # paths byte-wise, and its range operators stay usable when the prefix is a parameter.
        op.create_index(
            "ix_objects_tenant_path_pattern",
            "objects",
            ["tenant_id", "path"],
            unique=False,
            postgresql_ops={"path": "text_pattern_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_objects_tenant_path_pattern", table_name="objects")
