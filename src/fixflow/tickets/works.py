"""Completed works entered by the ticket's executors."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.accounts.permissions import Permission
from fixflow.catalogs.models import WorkType
from fixflow.core.errors import ErrorCollector, Forbidden, ValidationFailed
from fixflow.jobs.outbox import emit_event
from fixflow.tickets.history import HistoryKind, record
from fixflow.tickets.models import Ticket, TicketWork
from fixflow.tickets.service import bump, executor_ids_of


@dataclass(frozen=True)
class WorkDraft:
    work_type_id: int
    duration_minutes: int = 0
    quantity: Decimal = Decimal("1")
    price: Decimal | None = None
    comment: str = ""
    member_id: int | None = None  # who did it; defaults to the author


def add_work(session: Session, actor: Actor, ticket: Ticket, draft: WorkDraft) -> TicketWork:
    executors = executor_ids_of(session, ticket.id)
    if not actor.can(Permission.TICKET_WORKS) or actor.member_id not in executors:
        raise Forbidden("Only an executor of this ticket may enter completed works")
    if ticket.closed_at is not None:
        raise ValidationFailed("The ticket is closed")
    errors = ErrorCollector()
    work_type = session.get(WorkType, draft.work_type_id)
    if work_type is None or work_type.tenant_id != ticket.tenant_id:
        errors.add("work_type_id", "Unknown work type")
    if draft.duration_minutes < 0:
        errors.add("duration_minutes", "Must not be negative")
    if draft.quantity <= 0:
        errors.add("quantity", "Must be positive")
    if draft.price is not None and draft.price < 0:
        errors.add("price", "Must not be negative")
    doer = draft.member_id or actor.member_id
    if doer not in executors:
        errors.add("member_id", "Must be an executor of this ticket")
    errors.raise_if_any()
    assert work_type is not None
    work = TicketWork(
        tenant_id=ticket.tenant_id,
        ticket_id=ticket.id,
        work_type_id=work_type.id,
        member_id=doer,
        duration_minutes=draft.duration_minutes,
        quantity=draft.quantity,
        price=draft.price if draft.price is not None else work_type.price,
        comment=draft.comment.strip(),
        created_by_id=actor.member_id,
    )
    session.add(work)
    session.flush()
    bump(ticket)
    record(
        session,
        ticket,
        actor_id=actor.member_id,
        kind=HistoryKind.WORK_ADDED,
        field="work",
        new={"work_id": work.id, "work_type_id": work_type.id, "quantity": str(work.quantity)},
    )
    emit_event(
        session,
        tenant_id=ticket.tenant_id,
        kind="ticket.work_added",
        ticket_id=ticket.id,
        actor_id=actor.member_id,
        payload={"work_id": work.id},
    )
    return work


def list_works(session: Session, ticket: Ticket) -> list[TicketWork]:
    return list(
        session.scalars(select(TicketWork).where(TicketWork.ticket_id == ticket.id).order_by(TicketWork.id))
    )
