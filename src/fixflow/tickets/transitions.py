"""Moving tickets through their lifecycle: the service around the pure engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.core.db import utcnow
from fixflow.core.errors import FieldProblem, Forbidden, RequirementNotMet, ValidationFailed
from fixflow.core.prebuilt import prebuilt_rows
from fixflow.jobs.outbox import emit_event, schedule_job
from fixflow.tickets.extensions import EXTENSIONS
from fixflow.tickets.history import HistoryKind, record
from fixflow.tickets.models import Ticket, TicketWork
from fixflow.tickets.service import apply_executor_change, bump, check_version, executor_ids_of
from fixflow.workflow import engine
from fixflow.workflow.engine import (
    Branch,
    EntryAction,
    LifecycleSpec,
    Requirement,
    TicketFacts,
    TransitionPlan,
)
from fixflow.workflow.service import lifecycle_of_type

REQUIREMENT_MESSAGES = {
    Requirement.EXECUTOR_SET: "Assign an executor first",
    Requirement.APPROVER_SET: "Choose an approver first",
    Requirement.WORKS_ENTERED: "Enter the completed works first",
    Requirement.CHECKLISTS_DONE: "Complete the checklists first",
    Requirement.ACT_SIGNED: "The act must be signed first",
}


def lifecycle_of(session: Session, ticket: Ticket) -> LifecycleSpec:
    return lifecycle_of_type(session, ticket.tenant_id, ticket.type_id)


_WORKS_COUNT = select(func.count().label("works")).where(TicketWork.ticket_id == bindparam("ticket_id"))


def ticket_facts(session: Session, ticket: Ticket) -> TicketFacts:
    # Always one row: it also carries a pending check of the request (the sign-in).
    (row,) = prebuilt_rows(session, _WORKS_COUNT, {"ticket_id": ticket.id}, carrier=True)
    return facts_of(ticket, executor_ids=executor_ids_of(session, ticket.id), works_count=int(row.works))


def facts_of(ticket: Ticket, *, executor_ids: Iterable[int], works_count: int) -> TicketFacts:
    """What the lifecycle's conditions read, from the ticket and what was read beside it."""
    return TicketFacts(
        stage_id=ticket.stage_id,
        initiator_id=ticket.initiator_id,
        company_id=ticket.company_id,
        approver_member_id=ticket.approver_member_id,
        approver_role_id=ticket.approver_role_id,
        executor_ids=frozenset(executor_ids),
        works_count=works_count,
        closed=ticket.closed_at is not None,
    )


@dataclass(frozen=True)
class OfferedTransition:
    id: int
    label: str
    to_stage_id: int
    to_status_id: int | None
    requires_comment: bool
    branch: str


def available_transitions_for(
    session: Session, actor: Actor, ticket: Ticket, *, facts: TicketFacts | None = None
) -> list[OfferedTransition]:
    if ticket.deleted_at is not None:
        return []
    lifecycle = lifecycle_of(session, ticket)
    facts = facts or ticket_facts(session, ticket)
    return [
        OfferedTransition(
            id=t.id,
            label=t.label_for(actor.role_codes),
            to_stage_id=t.to_stage_id,
            to_status_id=t.set_status_id,
            requires_comment=t.requires_comment,
            branch=t.branch.value,
        )
        for t in engine.available_transitions(lifecycle, facts, actor.facts())
    ]


def transition_ticket(
    session: Session,
    actor: Actor,
    ticket: Ticket,
    *,
    transition_id: int,
    version: int,
    comment: str | None = None,
) -> Ticket:
    check_version(ticket, version)
    lifecycle = lifecycle_of(session, ticket)
    plan = _plan(
        lambda facts: engine.plan_transition(lifecycle, facts, actor.facts(), transition_id, comment=comment),
        session,
        ticket,
    )
    _apply(session, ticket, plan, lifecycle, actor_id=actor.member_id, comment=comment)
    return ticket


def move_ticket_to_stage(
    session: Session, actor: Actor, ticket: Ticket, *, stage_id: int, version: int, comment: str | None = None
) -> Ticket:
    """The owner's override of the lifecycle graph (requirements still hold)."""
    check_version(ticket, version)
    lifecycle = lifecycle_of(session, ticket)
    plan = _plan(
        lambda facts: engine.plan_move_to_stage(lifecycle, facts, actor.facts(), stage_id), session, ticket
    )
    _apply(session, ticket, plan, lifecycle, actor_id=actor.member_id, comment=comment)
    return ticket


def _plan(make: Callable[[TicketFacts], TransitionPlan], session: Session, ticket: Ticket) -> TransitionPlan:
    facts = ticket_facts(session, ticket)
    try:
        plan = make(facts)
    except engine.TransitionRefused:
        raise Forbidden("This action is not available to you for this ticket") from None
    except engine.CommentRequired:
        raise ValidationFailed(
            "Please give a reason", errors=[FieldProblem("comment", "Please give a reason")]
        ) from None
    except engine.RequirementFailed as failure:
        raise RequirementNotMet(
            REQUIREMENT_MESSAGES[failure.requirement], requirement=failure.requirement.value
        ) from None
    missing = EXTENSIONS.fields.missing_for_stage(session, ticket, plan.to_stage.id)
    if missing:
        raise RequirementNotMet(
            "Fill in the required field «{field}» first", field=missing[0], requirement="field_required"
        )
    return plan


def _apply(
    session: Session,
    ticket: Ticket,
    plan: TransitionPlan,
    lifecycle: LifecycleSpec,
    *,
    actor_id: int | None,
    comment: str | None,
) -> None:
    now = utcnow()
    old_stage, old_status = ticket.stage_id, ticket.status_id
    ticket.stage_id = plan.to_stage.id
    ticket.stage_entered_at = now
    if plan.set_status_id is not None:
        ticket.status_id = plan.set_status_id
    if "completed_at" in plan.stamps:
        ticket.completed_at = now
    if "closed_at" in plan.stamps:
        ticket.closed_at = now
    elif ticket.closed_at is not None:
        ticket.closed_at = None  # re-opened by the owner's override
    bump(ticket)
    record(
        session,
        ticket,
        actor_id=actor_id,
        kind=HistoryKind.STAGE_CHANGED,
        field="stage",
        old=old_stage,
        new=ticket.stage_id,
        comment=(comment or None),
    )
    if ticket.status_id != old_status:
        record(
            session,
            ticket,
            actor_id=actor_id,
            kind=HistoryKind.STATUS_CHANGED,
            field="status",
            old=old_status,
            new=ticket.status_id,
            # Customers see status changes, not stage moves: the reason given travels with the status.
            comment=comment or None,
        )
    if plan.entry_action in (EntryAction.UNASSIGN, EntryAction.ASSIGN_ACTOR, EntryAction.ASSIGN_MEMBER):
        apply_executor_change(session, actor_id, ticket, set(plan.executor_ids_after))
    emit_event(
        session,
        tenant_id=ticket.tenant_id,
        kind="ticket.stage_changed",
        ticket_id=ticket.id,
        actor_id=actor_id,
        payload={
            "from_stage_id": old_stage,
            "to_stage_id": ticket.stage_id,
            "transition_id": plan.transition.id if plan.transition else None,
            "comment": comment,
        },
    )
    _emit_stage_meaning(session, ticket, lifecycle, actor_id)
    _schedule_auto_transitions(session, ticket, lifecycle, now)
    session.flush()


def _emit_stage_meaning(
    session: Session, ticket: Ticket, lifecycle: LifecycleSpec, actor_id: int | None
) -> None:
    """Events that say what the new stage means for people: approval asked, work to accept."""
    outgoing = lifecycle.outgoing(ticket.stage_id)
    if any(t.branch is Branch.APPROVAL for t in outgoing):
        emit_event(
            session,
            tenant_id=ticket.tenant_id,
            kind="ticket.approval_requested",
            ticket_id=ticket.id,
            actor_id=actor_id,
        )
    completes = {s.id for s in lifecycle.stages if s.entry_action is EntryAction.COMPLETE}
    if any(t.branch is Branch.CUSTOMER and t.to_stage_id in completes for t in outgoing):
        emit_event(
            session,
            tenant_id=ticket.tenant_id,
            kind="ticket.work_submitted",
            ticket_id=ticket.id,
            actor_id=actor_id,
        )


def _schedule_auto_transitions(
    session: Session, ticket: Ticket, lifecycle: LifecycleSpec, entered_at: dt.datetime
) -> None:
    for transition in lifecycle.outgoing(ticket.stage_id):
        if transition.auto_after_seconds:
            schedule_job(
                session,
                kind="auto_transition",
                tenant_id=ticket.tenant_id,
                payload={
                    "ticket_id": ticket.id,
                    "transition_id": transition.id,
                    "entered_at": entered_at.isoformat(),
                },
                run_at=entered_at + dt.timedelta(seconds=transition.auto_after_seconds),
                dedupe_key=f"auto:{ticket.id}:{transition.id}:{entered_at.isoformat()}",
            )


def fire_auto_transition(session: Session, *, ticket_id: int, transition_id: int, entered_at: str) -> bool:
    """Run by the worker; a no-op (False) unless the ticket still sits in the same stage entry."""
    ticket = session.scalar(select(Ticket).where(Ticket.id == ticket_id).with_for_update())
    if ticket is None or ticket.deleted_at is not None or ticket.stage_entered_at.isoformat() != entered_at:
        return False
    lifecycle = lifecycle_of(session, ticket)
    try:
        plan = engine.plan_automatic(lifecycle, ticket_facts(session, ticket), transition_id)
    except (engine.TransitionRefused, engine.RequirementFailed):
        return False
    if EXTENSIONS.fields.missing_for_stage(session, ticket, plan.to_stage.id):
        return False
    _apply(session, ticket, plan, lifecycle, actor_id=None, comment=None)
    return True
