"""Appending to a ticket's history (never updated, never deleted)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from fixflow.core.db import utcnow
from fixflow.tickets.models import Ticket, TicketHistory


class HistoryKind:
    CREATED = "created"
    FIELD_CHANGED = "field_changed"
    STAGE_CHANGED = "stage_changed"
    STATUS_CHANGED = "status_changed"
    EXECUTOR_ADDED = "executor_added"
    EXECUTOR_REMOVED = "executor_removed"
    WORK_ADDED = "work_added"
    RATED = "rated"
    DELETED = "deleted"


def record(
    session: Session,
    ticket: Ticket,
    *,
    actor_id: int | None,
    kind: str,
    field: str | None = None,
    old: Any = None,
    new: Any = None,
    comment: str | None = None,
) -> None:
    session.add(
        TicketHistory(
            tenant_id=ticket.tenant_id,
            ticket_id=ticket.id,
            at=utcnow(),
            actor_id=actor_id,
            kind=kind,
            field=field,
            old=old,
            new=new,
            comment=comment,
        )
    )
