"""Deadline of a new ticket.

Interim rule of the platform core (spec/domain.md §7, "with no rule"): created + min(type closing time,
work-type closing time). SLA rules with working-time schedules plug in through :func:`compute_deadline`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from fixflow.catalogs.models import TicketType, WorkType


def fallback_deadline(
    created_at: dt.datetime, ticket_type: TicketType, work_type: WorkType | None
) -> dt.datetime:
    minutes = ticket_type.closing_minutes
    if work_type is not None:
        minutes = min(minutes, work_type.closing_minutes)
    return created_at + dt.timedelta(minutes=minutes)


def compute_deadline(
    session: Session,
    *,
    created_at: dt.datetime,
    ticket_type: TicketType,
    work_type: WorkType | None,
    criticality_id: int | None,
    company_id: int,
    object_id: int,
) -> dt.datetime:
    return fallback_deadline(created_at, ticket_type, work_type)
