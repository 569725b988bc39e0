"""Ticket writes: create, update, delete, favourites. Every write appends history and outbox events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.accounts.models import Member, MemberCompany, Role
from fixflow.accounts.permissions import Permission
from fixflow.accounts.queries import eligible_executor
from fixflow.catalogs.models import Criticality, TicketType, WorkType
from fixflow.catalogs.numbering import next_counter, render_number
from fixflow.catalogs.refs import tenant_refs
from fixflow.core.db import utcnow
from fixflow.core.errors import ErrorCollector, Forbidden, NotFound, ValidationFailed, VersionConflict
from fixflow.core.prebuilt import prebuilt_rows
from fixflow.jobs.outbox import emit_event
from fixflow.objects.models import ServiceObject
from fixflow.objects.queries import (
    allows_work_type,
    effective_address,
    get_object_for_actor,
    load_ancestors,
)
from fixflow.sla.deadlines import compute_deadline
from fixflow.tenants.models import Company
from fixflow.tickets.extensions import EXTENSIONS
from fixflow.tickets.history import HistoryKind, record
from fixflow.tickets.models import Favorite, Ticket, TicketExecutor
from fixflow.tickets.queries import shaped_statement, visibility_of, visibility_params, visibility_shape
from fixflow.workflow.service import lifecycle_of_type

SOURCES = frozenset({"app", "web", "qr", "email", "api", "planned"})


def get_ticket_for_actor(
    session: Session, actor: Actor, ticket_id: int, *, for_update: bool = False
) -> Ticket:
    """The ticket if the actor may see it; 404 otherwise, so ids cannot be probed."""
    shape = visibility_shape(actor)
    params = {**visibility_params(actor), "t_id": ticket_id}

    def build() -> Any:
        stmt = select(Ticket).where(Ticket.id == bindparam("t_id", ticket_id), visibility_of(shape, params))
        return stmt.with_for_update(of=Ticket) if for_update else stmt

    ticket: Ticket | None = session.scalar(shaped_statement(("ticket", shape, for_update), build), params)
    if ticket is None:
        raise NotFound("Ticket not found")
    return ticket


@dataclass
class TicketDraft:
    type_id: int
    object_id: int
    description: str
    work_type_id: int | None = None
    criticality_id: int | None = None
    initiator_id: int | None = None
    source: str = "api"
    fields: dict[str, Any] = field(default_factory=dict)


def _tenant_row(session: Session, model: Any, row_id: int | None, tenant_id: int) -> Any:
    if row_id is None:
        return None
    row = session.get(model, row_id)
    return row if row is not None and row.tenant_id == tenant_id else None


def _check_work_type(
    errors: ErrorCollector, work_type: WorkType | None, ticket_type: TicketType, obj: ServiceObject | None
) -> None:
    if work_type is None:
        return
    if not work_type.published:
        errors.add("work_type_id", "This work type is not available")
    elif (
        ticket_type.allowed_work_type_ids is not None
        and work_type.id not in ticket_type.allowed_work_type_ids
    ):
        errors.add("work_type_id", "This work type is not allowed for the ticket type")
    elif obj is not None and not allows_work_type(obj, work_type.id):
        errors.add("work_type_id", "This work type is not allowed for the object")


def _resolve_initiator(session: Session, actor: Actor, draft: TicketDraft, obj: ServiceObject) -> int:
    if draft.initiator_id is None or draft.initiator_id == actor.member_id:
        return actor.member_id
    if not actor.is_staff:
        raise Forbidden("Only staff may file a ticket on someone else's behalf")
    member = _tenant_row(session, Member, draft.initiator_id, actor.tenant_id)
    if member is None or member.deleted_at is not None:
        raise ValidationFailed("Unknown initiator")
    return int(member.id)


def create_ticket(session: Session, actor: Actor, draft: TicketDraft) -> Ticket:
    if not actor.can(Permission.TICKET_CREATE):
        raise Forbidden("You may not create tickets")
    errors = ErrorCollector()
    if not draft.description.strip():
        errors.add("description", "Describe the problem")
    if draft.source not in SOURCES:
        errors.add("source", "Unknown source")
    ticket_type = _tenant_row(session, TicketType, draft.type_id, actor.tenant_id)
    if ticket_type is None or not ticket_type.published:
        errors.add("type_id", "Choose a ticket type")
    obj: ServiceObject | None = None
    try:
        obj = get_object_for_actor(session, actor, draft.object_id)
        if not obj.published:
            errors.add("object_id", "This object cannot be used in new tickets")
            obj = None
    except NotFound:
        errors.add("object_id", "Choose an object")
    work_type = _tenant_row(session, WorkType, draft.work_type_id, actor.tenant_id)
    if draft.work_type_id is not None and work_type is None:
        errors.add("work_type_id", "Unknown work type")
    if ticket_type is not None:
        _check_work_type(errors, work_type, ticket_type, obj)
    criticality_id = _criticality_id(session, actor.tenant_id, draft.criticality_id)
    if draft.criticality_id is not None and criticality_id is None:
        errors.add("criticality_id", "Unknown criticality")
    start_id = _start_stage_id(session, ticket_type) if ticket_type is not None else None
    if ticket_type is not None and start_id is not None:
        draft.fields, problems = EXTENSIONS.fields.validate_create(
            session, actor, ticket_type.id, start_id, draft.fields
        )
        errors.problems.extend(problems)
    errors.raise_if_any()
    assert ticket_type is not None and obj is not None and start_id is not None
    return _insert_ticket(session, actor, draft, ticket_type, obj, work_type, criticality_id, start_id)


def _start_stage_id(session: Session, ticket_type: TicketType) -> int | None:
    # From the cached lifecycle (workflow.service): a creation reads no workflow rows.
    spec = lifecycle_of_type(session, ticket_type.tenant_id, ticket_type.id)
    return next((stage.id for stage in spec.stages if stage.is_start), None)


def _criticality_id(session: Session, tenant_id: int, chosen: int | None) -> int | None:
    """The chosen criticality if it is the tenant's (None if not), else the tenant's default."""
    refs = tenant_refs(session, tenant_id)
    if chosen is not None:
        return chosen if chosen in refs.criticalities else None
    return refs.default_criticality_id


def _insert_ticket(
    session: Session,
    actor: Actor,
    draft: TicketDraft,
    ticket_type: TicketType,
    obj: ServiceObject,
    work_type: WorkType | None,
    criticality_id: int | None,
    start_id: int,
) -> Ticket:
    now = utcnow()
    start_status_id = lifecycle_of_type(session, ticket_type.tenant_id, ticket_type.id).start_status_id
    # Only a mask with the company's code needs the company.
    company = session.get(Company, obj.company_id) if "{CODE}" in ticket_type.number_mask else None
    counter = next_counter(session, actor.tenant_id, ticket_type.id)
    ticket = Ticket(
        tenant_id=actor.tenant_id,
        number=render_number(
            ticket_type.number_mask, counter, at=now, company_code=company.code if company else None
        ),
        type_id=ticket_type.id,
        criticality_id=criticality_id,
        description=draft.description.strip(),
        company_id=obj.company_id,
        object_id=obj.id,
        address=effective_address(obj, load_ancestors(session, [obj])),
        work_type_id=work_type.id if work_type else None,
        initiator_id=_resolve_initiator(session, actor, draft, obj),
        created_by_id=actor.member_id,
        stage_id=start_id,
        status_id=start_status_id,
        deadline=compute_deadline(
            session,
            created_at=now,
            ticket_type=ticket_type,
            work_type=work_type,
            criticality_id=criticality_id,
            company_id=obj.company_id,
            object_id=obj.id,
        ),
        created_at=now,
        updated_at=now,
        stage_entered_at=now,
        source=draft.source,
        fields=dict(draft.fields),
        version=1,
    )
    session.add(ticket)
    session.flush()
    record(session, ticket, actor_id=actor.member_id, kind=HistoryKind.CREATED, new={"number": ticket.number})
    emit_event(
        session,
        tenant_id=ticket.tenant_id,
        kind="ticket.created",
        ticket_id=ticket.id,
        actor_id=actor.member_id,
    )
    return ticket


def check_version(ticket: Ticket, version: int) -> None:
    if ticket.version != version:
        raise VersionConflict(
            "The ticket was changed by someone else. Reload it and try again.", current_version=ticket.version
        )


def bump(ticket: Ticket) -> None:
    ticket.version += 1
    ticket.updated_at = utcnow()


@dataclass
class TicketChanges:
    """Only the attributes present were sent by the client (PATCH semantics)."""

    values: dict[str, Any]


_STAFF_FIELDS = {"description", "criticality_id", "deadline", "address", "work_type_id"}
_APPROVER_FIELDS = {"approver_member_id", "approver_role_id"}


def update_ticket(
    session: Session, actor: Actor, ticket: Ticket, *, version: int, changes: dict[str, Any]
) -> Ticket:
    if not actor.is_staff:
        raise Forbidden("Only staff may edit tickets")
    check_version(ticket, version)
    wants_assign = "executor_ids" in changes
    if wants_assign and not actor.can(Permission.TICKET_ASSIGN):
        raise Forbidden("You may not assign executors")
    if set(changes) - {"executor_ids", "fields"} and not actor.can(Permission.TICKET_UPDATE):
        raise Forbidden("You may not edit tickets")
    if ticket.closed_at is not None:
        raise ValidationFailed("A closed ticket cannot be edited")
    errors = ErrorCollector()
    for name in sorted(set(changes) & (_STAFF_FIELDS | _APPROVER_FIELDS)):
        _apply_field(session, actor, ticket, name, changes[name], errors)
    if "fields" in changes:
        _apply_additional_fields(session, actor, ticket, changes["fields"] or {}, errors)
    errors.raise_if_any()
    if wants_assign:
        set_executors(session, actor, ticket, changes["executor_ids"])
    if {"criticality_id", "work_type_id"} & set(changes) and not ticket.deadline_manual:
        _recompute_deadline(session, actor, ticket)
    bump(ticket)
    session.flush()
    return ticket


def _recompute_deadline(session: Session, actor: Actor, ticket: Ticket) -> None:
    """SLA inputs changed: the automatic deadline follows; a deadline set by staff is kept."""
    ticket_type = session.get(TicketType, ticket.type_id)
    assert ticket_type is not None
    work_type = session.get(WorkType, ticket.work_type_id) if ticket.work_type_id else None
    deadline = compute_deadline(
        session,
        created_at=ticket.created_at,
        ticket_type=ticket_type,
        work_type=work_type,
        criticality_id=ticket.criticality_id,
        company_id=ticket.company_id,
        object_id=ticket.object_id,
    )
    if deadline != ticket.deadline:
        record(
            session,
            ticket,
            actor_id=actor.member_id,
            kind=HistoryKind.FIELD_CHANGED,
            field="deadline",
            old=_jsonable(ticket.deadline),
            new=_jsonable(deadline),
        )
        emit_event(
            session,
            tenant_id=ticket.tenant_id,
            kind="ticket.deadline_changed",
            ticket_id=ticket.id,
            actor_id=actor.member_id,
        )
        ticket.deadline = deadline


def _apply_field(
    session: Session, actor: Actor, ticket: Ticket, name: str, value: Any, errors: ErrorCollector
) -> None:
    old = getattr(ticket, name)
    if name == "description" and not str(value or "").strip():
        errors.add(name, "Describe the problem")
        return
    if (
        name == "criticality_id"
        and value is not None
        and _tenant_row(session, Criticality, value, actor.tenant_id) is None
    ):
        errors.add(name, "Unknown criticality")
        return
    if name == "work_type_id" and value is not None:
        work_type = _tenant_row(session, WorkType, value, actor.tenant_id)
        obj = session.get(ServiceObject, ticket.object_id)
        ticket_type = session.get(TicketType, ticket.type_id)
        if work_type is None or ticket_type is None:
            errors.add(name, "Unknown work type")
            return
        before = len(errors.problems)
        _check_work_type(errors, work_type, ticket_type, obj)
        if len(errors.problems) > before:
            return
    if name == "approver_member_id" and value is not None:
        member = _tenant_row(session, Member, value, actor.tenant_id)
        if member is None or member.deleted_at is not None:
            errors.add(name, "Unknown approver")
            return
    if (
        name == "approver_role_id"
        and value is not None
        and _tenant_row(session, Role, value, actor.tenant_id) is None
    ):
        errors.add(name, "Unknown role")
        return
    if name == "deadline":
        ticket.deadline_manual = value is not None
    if old == value:
        return
    setattr(ticket, name, value)
    record(
        session,
        ticket,
        actor_id=actor.member_id,
        kind=HistoryKind.FIELD_CHANGED,
        field=name,
        old=_jsonable(old),
        new=_jsonable(value),
    )
    if name == "deadline":
        emit_event(
            session,
            tenant_id=ticket.tenant_id,
            kind="ticket.deadline_changed",
            ticket_id=ticket.id,
            actor_id=actor.member_id,
        )
    elif name in _APPROVER_FIELDS and value is not None:
        emit_event(
            session,
            tenant_id=ticket.tenant_id,
            kind="ticket.approver_set",
            ticket_id=ticket.id,
            actor_id=actor.member_id,
        )
    else:
        emit_event(
            session,
            tenant_id=ticket.tenant_id,
            kind="ticket.updated",
            ticket_id=ticket.id,
            actor_id=actor.member_id,
            payload={"field": name},
        )


def _apply_additional_fields(
    session: Session, actor: Actor, ticket: Ticket, raw: dict[str, Any], errors: ErrorCollector
) -> None:
    document, problems = EXTENSIONS.fields.validate_update(session, actor, ticket, raw)
    if problems:
        errors.problems.extend(problems)
        return
    before = dict(ticket.fields)
    for code in sorted(set(before) | set(document)):
        if before.get(code) != document.get(code):
            record(
                session,
                ticket,
                actor_id=actor.member_id,
                kind=HistoryKind.FIELD_CHANGED,
                field=f"fields.{code}",
                old=before.get(code),
                new=document.get(code),
            )
    ticket.fields = document


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


_EXECUTOR_IDS = select(TicketExecutor.member_id).where(TicketExecutor.ticket_id == bindparam("ticket_id"))


def executor_ids_of(session: Session, ticket_id: int) -> set[int]:
    return {row[0] for row in prebuilt_rows(session, _EXECUTOR_IDS, {"ticket_id": ticket_id})}


def set_executors(session: Session, actor: Actor | None, ticket: Ticket, member_ids: list[int]) -> None:
    """Replace the executors; each must be a mobile staff member of the tenant."""
    wanted = set(member_ids)
    if wanted:
        valid = set(
            session.scalars(
                select(Member.id).where(
                    Member.id.in_(wanted),
                    Member.tenant_id == ticket.tenant_id,
                    eligible_executor(),
                )
            )
        )
        if valid != wanted:
            raise ValidationFailed(
                "Executors must be field employees of this organisation",
                errors=[],
            )
    apply_executor_change(session, actor.member_id if actor else None, ticket, wanted)


def apply_executor_change(session: Session, actor_id: int | None, ticket: Ticket, wanted: set[int]) -> None:
    current = executor_ids_of(session, ticket.id)
    for member_id in sorted(wanted - current):
        session.add(TicketExecutor(tenant_id=ticket.tenant_id, ticket_id=ticket.id, member_id=member_id))
        record(
            session,
            ticket,
            actor_id=actor_id,
            kind=HistoryKind.EXECUTOR_ADDED,
            field="executor",
            new=member_id,
        )
        emit_event(
            session,
            tenant_id=ticket.tenant_id,
            kind="ticket.executor_assigned",
            ticket_id=ticket.id,
            actor_id=actor_id,
            payload={"member_id": member_id},
        )
    removed = sorted(current - wanted)
    if removed:
        session.execute(
            delete(TicketExecutor).where(
                TicketExecutor.ticket_id == ticket.id, TicketExecutor.member_id.in_(removed)
            )
        )
    for member_id in removed:
        record(
            session,
            ticket,
            actor_id=actor_id,
            kind=HistoryKind.EXECUTOR_REMOVED,
            field="executor",
            old=member_id,
        )
        emit_event(
            session,
            tenant_id=ticket.tenant_id,
            kind="ticket.executor_unassigned",
            ticket_id=ticket.id,
            actor_id=actor_id,
            payload={"member_id": member_id},
        )
    session.flush()


def delete_ticket(session: Session, actor: Actor, ticket: Ticket) -> None:
    if not actor.can(Permission.TICKET_DELETE):
        raise Forbidden("You may not delete tickets")
    if ticket.deleted_at is not None:
        return
    ticket.deleted_at = utcnow()
    bump(ticket)
    # The ticket's row first: its lock waits for a favourite being added (add_favorite holds a share
    # lock on it), so the favourites' update below sees that favourite too and marks it.
    session.flush()
    session.execute(update(Favorite).where(Favorite.ticket_id == ticket.id).values(ticket_deleted=True))
    record(session, ticket, actor_id=actor.member_id, kind=HistoryKind.DELETED)
    emit_event(
        session,
        tenant_id=ticket.tenant_id,
        kind="ticket.deleted",
        ticket_id=ticket.id,
        actor_id=actor.member_id,
    )
    session.flush()


def add_favorite(session: Session, actor: Actor, ticket: Ticket) -> None:
    """Idempotent: adding twice leaves one row."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    deleted = ticket.deleted_at is not None
    if postgresql:
        # The deleted mark as committed now, under a share lock held to the end: a deletion running
        # meanwhile is waited for, and one starting later waits for this favourite (delete_ticket).
        # SQLite runs one writer at a time.
        locked = (
            select(Ticket.deleted_at.is_not(None)).where(Ticket.id == ticket.id).with_for_update(read=True)
        )
        deleted = bool(session.scalar(locked))
    values = {
        "tenant_id": actor.tenant_id,
        "member_id": actor.member_id,
        "ticket_id": ticket.id,
        "created_at": utcnow(),
        "ticket_deleted": deleted,
    }
    insert = pg_insert if postgresql else sqlite_insert
    session.execute(insert(Favorite).values(**values).on_conflict_do_nothing())


def remove_favorite(session: Session, actor: Actor, ticket: Ticket) -> None:
    session.execute(
        delete(Favorite).where(Favorite.member_id == actor.member_id, Favorite.ticket_id == ticket.id)
    )


def member_company_ids(session: Session, member_id: int) -> set[int]:
    return set(session.scalars(select(MemberCompany.company_id).where(MemberCompany.member_id == member_id)))
