"""The ticket profile read model shared by the API and the customer app."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.accounts.logins import format_phone
from fixflow.accounts.models import Account, Member, Role, person_name
from fixflow.catalogs.refs import Ref, tenant_refs
from fixflow.core.prebuilt import prebuilt_rows
from fixflow.core.sqlfuncs import joined_ids, split_ids
from fixflow.objects.models import ServiceObject
from fixflow.objects.queries import object_names
from fixflow.ratings.models import Rating
from fixflow.ratings.service import may_rate
from fixflow.tickets.history import HistoryKind
from fixflow.tickets.models import Favorite, Ticket, TicketExecutor, TicketHistory, TicketWork
from fixflow.tickets.transitions import OfferedTransition, available_transitions_for, facts_of
from fixflow.workflow.service import lifecycle_of_type, statuses_of


@dataclass(frozen=True)
class PersonRef:
    id: int
    name: str
    phone: str


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    status: Ref


@dataclass(frozen=True)
class TicketDetail:
    ticket: Ticket
    status: Ref
    stage: Ref | None
    type: Ref
    work_type: Ref | None
    criticality: Ref | None
    object: Ref
    object_path: list[str]
    initiator: PersonRef
    executors: list[PersonRef]
    approver_member: PersonRef | None
    approver_role: Ref | None
    is_favorite: bool
    transitions: list[OfferedTransition]
    can_rate: bool
    my_rating: dict[str, Any] | None
    timeline: list[TimelineEntry]


# The profile's statements are built once: it is the second most frequent request after the lists.
_PEOPLE = (
    select(Member.id, Member.last_name, Member.first_name, Member.patronymic, Account.phone)
    .join(Account, Account.id == Member.account_id)
    .where(Member.id.in_(bindparam("ids", expanding=True)))
)
_TIMELINE = (
    select(TicketHistory.at, TicketHistory.kind, TicketHistory.new)
    .where(
        TicketHistory.ticket_id == bindparam("ticket_id"),
        TicketHistory.kind.in_([HistoryKind.CREATED, HistoryKind.STATUS_CHANGED]),
    )
    .order_by(TicketHistory.id)
)


# What hangs off the ticket, in one row: the works count and the executors (the lifecycle's conditions
# read them), the actor's favourite mark and rating. One round trip instead of four; the row is always
# there, so it also carries the request's sign-in check (core.prebuilt).
_SIDE = (
    select(
        select(func.count())
        .select_from(TicketWork)
        .where(TicketWork.ticket_id == Ticket.id)
        .scalar_subquery()
        .label("works"),
        joined_ids(TicketExecutor.member_id, TicketExecutor.ticket_id == Ticket.id).label("executor_ids"),
        select(Favorite.ticket_id)
        .where(Favorite.ticket_id == Ticket.id, Favorite.member_id == bindparam("me"))
        .exists()
        .label("is_favorite"),
        Rating.id.label("rating_id"),
        Rating.scores.label("rating_scores"),
        Rating.score.label("rating_score"),
        Rating.comment.label("rating_comment"),
    )
    .select_from(Ticket)
    .outerjoin(Rating, and_(Rating.ticket_id == Ticket.id, Rating.rater_id == bindparam("me")))
    .where(Ticket.id == bindparam("ticket_id"))
)


@dataclass(frozen=True)
class _SideFacts:
    works: int
    executor_ids: list[int]
    is_favorite: bool
    my_rating: dict[str, Any] | None


def _side_facts(session: Session, actor: Actor, ticket: Ticket) -> _SideFacts:
    (row,) = prebuilt_rows(session, _SIDE, {"ticket_id": ticket.id, "me": actor.member_id}, carrier=True)
    rating = None
    if row.rating_id is not None:
        rating = {"scores": row.rating_scores, "score": row.rating_score, "comment": row.rating_comment}
    return _SideFacts(int(row.works), split_ids(row.executor_ids), bool(row.is_favorite), rating)


def _people(session: Session, member_ids: set[int]) -> dict[int, PersonRef]:
    if not member_ids:
        return {}
    rows = prebuilt_rows(session, _PEOPLE, {"ids": sorted(member_ids)})
    people = {}
    for r in rows:
        name = person_name(r.id, r.last_name, r.first_name, r.patronymic)
        people[r.id] = PersonRef(r.id, name, format_phone(r.phone))
    return people


def _object_path(session: Session, obj: ServiceObject) -> list[str]:
    ancestors = obj.ancestor_ids
    if not ancestors:
        return [obj.name]
    names = object_names(session, obj.tenant_id, ancestors)
    return [names[a] for a in ancestors if a in names] + [obj.name]


def status_timeline(session: Session, ticket: Ticket) -> list[TimelineEntry]:
    """Status changes only (what a customer may see), oldest first, starting with creation."""
    rows = prebuilt_rows(session, _TIMELINE, {"ticket_id": ticket.id})
    start_status_id = lifecycle_of_type(session, ticket.tenant_id, ticket.type_id).start_status_id
    statuses = statuses_of(session, ticket.tenant_id)
    entries: list[TimelineEntry] = []
    for at, kind, new in rows:
        status_id = start_status_id if kind == HistoryKind.CREATED else new
        status = statuses.get(int(status_id)) if status_id is not None else None
        if status is not None:
            entries.append(TimelineEntry(at=at, status=status))
    return entries


def ticket_detail(
    session: Session, actor: Actor, ticket: Ticket, obj: ServiceObject | None = None
) -> TicketDetail:
    """``obj``: the ticket's object when the caller loaded it with the ticket (saves a query)."""
    refs = tenant_refs(session, ticket.tenant_id)
    status = refs.statuses[ticket.status_id]
    stage = refs.stages.get(ticket.stage_id) if actor.is_staff else None
    work_type = refs.work_types.get(ticket.work_type_id) if ticket.work_type_id else None
    criticality = refs.criticalities.get(ticket.criticality_id) if ticket.criticality_id else None
    obj = obj or session.get(ServiceObject, ticket.object_id)
    assert obj is not None and obj.id == ticket.object_id
    side = _side_facts(session, actor, ticket)
    facts = facts_of(ticket, executor_ids=side.executor_ids, works_count=side.works)
    executor_ids = set(facts.executor_ids)
    people = _people(session, executor_ids | {ticket.initiator_id} | ({ticket.approver_member_id} - {None}))  # type: ignore[operator]
    approver_role = session.get(Role, ticket.approver_role_id) if ticket.approver_role_id else None
    rating = side.my_rating
    return TicketDetail(
        ticket=ticket,
        status=status,
        stage=stage,
        type=refs.types[ticket.type_id],
        work_type=work_type,
        criticality=criticality,
        object=Ref(obj.id, obj.name),
        object_path=_object_path(session, obj),
        initiator=people[ticket.initiator_id],
        executors=sorted((people[i] for i in executor_ids), key=lambda p: p.name),
        approver_member=people.get(ticket.approver_member_id) if ticket.approver_member_id else None,
        approver_role=Ref(approver_role.id, approver_role.name) if approver_role else None,
        is_favorite=side.is_favorite,
        transitions=available_transitions_for(session, actor, ticket, facts=facts),
        can_rate=may_rate(session, actor, ticket),
        my_rating=rating,
        timeline=status_timeline(session, ticket),
    )
