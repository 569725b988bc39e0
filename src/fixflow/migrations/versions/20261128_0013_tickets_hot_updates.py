"""tickets: drop the unused stage-entry index, leave room on each page for updates

No query reads ``ix_tickets_stage_entered`` (automatic transitions are jobs with their own run time),
yet every transition changes ``stage_id`` and so wrote a new entry into all fourteen indexes of the
table. Without it a transition that keeps the ticket open and its approver changes no indexed column,
and with 10 % of each page free PostgreSQL can keep the new row version on the same page (a HOT
update): no index entries, nothing for VACUUM to clean from the indexes, the page soon all-visible
again for the index-only scans of the lists and counters. The fillfactor applies to pages filled from
now on (the newest tickets, the ones that move); ``VACUUM FULL`` would rewrite the old ones too.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 21:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 90  # tickets.models.TICKETS_FILLFACTOR at the time of writing


def upgrade() -> None:
    op.drop_index("ix_tickets_stage_entered", table_name="tickets")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE tickets SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE tickets RESET (fillfactor)")
    op.create_index("ix_tickets_stage_entered", "tickets", ["stage_id", "stage_entered_at"])
