"""The ticket profile read model shared by the API and the customer app."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, join, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict
from sqlalchemy.orm.base import manager_of_class
from sqlalchemy.orm.util import identity_key

from fixflow.accounts.actor import Actor
from fixflow.accounts.logins import format_phone
from fixflow.accounts.models import Account, Member, Role, person_name
from fixflow.attachments.models import Attachment
from fixflow.catalogs.refs import Ref, tenant_refs
from fixflow.core.errors import NotFound
from fixflow.core.prebuilt import prebuilt_rows
from fixflow.core.sqlfuncs import json_rows
from fixflow.objects.models import ServiceObject
from fixflow.objects.queries import ancestor_ids_of, object_names
from fixflow.ratings.models import Rating
from fixflow.ratings.service import may_rate
from fixflow.tickets.history import HistoryKind
from fixflow.tickets.models import Favorite, Ticket, TicketExecutor, TicketHistory, TicketWork
from fixflow.tickets.queries import shaped_statement, visibility_of, visibility_params, visibility_shape
from fixflow.tickets.transitions import OfferedTransition, available_transitions_for, facts_of
from fixflow.workflow.service import lifecycle_of_type, statuses_of


@dataclass(frozen=True)
class PersonRef:
    id: int
    name: str
    phone: str


@dataclass(frozen=True, order=True)
class FileRow:
    """A file of the ticket as stored, before the field rule (``attachments.service.visible_files``)."""

    id: int
    filename: str
    content_type: str
    field_code: str | None


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
    files: list[FileRow]  # every file of the ticket: show them through attachments.service.visible_files


# The whole profile is one statement: the ticket (visibility applied) with its object, and beside it
# what hangs off it — works count and executors (the lifecycle's conditions read them), the people it
# names, the status timeline, the actor's favourite mark and rating — as scalar columns, the lists as
# JSON. It is the second most frequent request after the lists; each statement more cost ≈ 0.2 ms.
_PERSON = (Member.id, Member.last_name, Member.first_name, Member.patronymic, Account.phone)
_WITH_ACCOUNT = join(Member, Account, Account.id == Member.account_id)
_TIMELINE_KINDS = [HistoryKind.CREATED, HistoryKind.STATUS_CHANGED]


def _beside_columns(me: Any) -> list[Any]:
    """Columns correlated to ``Ticket``; the statement outer-joins ``Rating`` (the actor's)."""
    executors = join(TicketExecutor, _WITH_ACCOUNT, Member.id == TicketExecutor.member_id)
    history = TicketHistory
    return [
        select(func.count())
        .select_from(TicketWork)
        .where(TicketWork.ticket_id == Ticket.id)
        .scalar_subquery()
        .label("works"),
        json_rows(*_PERSON, from_=executors, where=[TicketExecutor.ticket_id == Ticket.id]).label(
            "executors"
        ),
        json_rows(*_PERSON, from_=_WITH_ACCOUNT, where=[Member.id == Ticket.initiator_id]).label("initiator"),
        json_rows(*_PERSON, from_=_WITH_ACCOUNT, where=[Member.id == Ticket.approver_member_id]).label(
            "approver"
        ),
        json_rows(
            history.id,
            history.at,
            history.kind,
            history.new,
            from_=history,
            where=[history.ticket_id == Ticket.id, history.kind.in_(_TIMELINE_KINDS)],
        ).label("timeline"),
        json_rows(
            Attachment.id,
            Attachment.filename,
            Attachment.content_type,
            Attachment.field_code,
            from_=Attachment,
            where=[Attachment.ticket_id == Ticket.id, Attachment.tenant_id == Ticket.tenant_id],
        ).label("files"),
        select(Favorite.ticket_id)
        .where(Favorite.ticket_id == Ticket.id, Favorite.member_id == me)
        .exists()
        .label("is_favorite"),
        Rating.id.label("rating_id"),
        Rating.scores.label("rating_scores"),
        Rating.score.label("rating_score"),
        Rating.comment.label("rating_comment"),
    ]


def _actors_rating(me: Any) -> Any:
    return and_(Rating.ticket_id == Ticket.id, Rating.rater_id == me)


# For a ticket already loaded (after a write): the same columns by id.
# The object is the one the ticket has in memory (a change may not be flushed yet), its name and path
# read here rather than as an entity of its own: after a creation the object the service loaded was
# already gone from the session's (weak) identity map, and reading it again was a statement more.
_BESIDE = (
    select(
        ServiceObject.name.label("place_name"),
        ServiceObject.path.label("place_path"),
        *_beside_columns(bindparam("v_me")),
    )
    .select_from(Ticket)
    .join(ServiceObject, ServiceObject.id == bindparam("object_id"))
    .outerjoin(Rating, _actors_rating(bindparam("v_me")))
    .where(Ticket.id == bindparam("ticket_id"))
)


@dataclass(frozen=True)
class _Beside:
    works: int
    executors: list[PersonRef]
    initiator: PersonRef | None
    approver: PersonRef | None
    timeline: list[tuple[int, dt.datetime, str, Any]]  # (history id, at, kind, new)
    is_favorite: bool
    my_rating: dict[str, Any] | None
    files: list[FileRow]


def _beside_of(row: Any) -> _Beside:
    rating = None
    if row.rating_id is not None:
        rating = {"scores": row.rating_scores, "score": row.rating_score, "comment": row.rating_comment}
    initiator, approver = _people(row.initiator), _people(row.approver)
    return _Beside(
        works=int(row.works),
        executors=_people(row.executors),
        initiator=initiator[0] if initiator else None,
        approver=approver[0] if approver else None,
        timeline=sorted((int(i), _utc(at), kind, new) for i, at, kind, new in _json(row.timeline)),
        is_favorite=bool(row.is_favorite),
        my_rating=rating,
        files=sorted(FileRow(int(i), name, kind, code) for i, name, kind, code in _json(row.files)),
    )


def _json(value: Any) -> list[Any]:
    # Decoded by the driver (PostgreSQL's json) or by SQLAlchemy's JSON type; text only if neither did.
    return json.loads(value) if isinstance(value, str) else list(value or ())


def _utc(text: str) -> dt.datetime:
    at = dt.datetime.fromisoformat(text)
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def _people(value: Any) -> list[PersonRef]:
    return [
        PersonRef(int(i), person_name(int(i), last, first, patronymic), format_phone(phone))
        for i, last, first, patronymic, phone in _json(value)
    ]


@dataclass(frozen=True)
class _Place:
    """What a profile shows of the ticket's object (read as columns: a whole entity cost the profile's
    statement a dozen columns more to describe and load)."""

    id: int
    tenant_id: int
    name: str
    path: str


def _object_path(session: Session, place: _Place) -> list[str]:
    ancestors = ancestor_ids_of(place.id, place.path)
    if not ancestors:
        return [place.name]
    names = object_names(session, place.tenant_id, ancestors)
    return [names[a] for a in ancestors if a in names] + [place.name]


def _timeline(
    session: Session, ticket: Ticket, rows: list[tuple[int, dt.datetime, str, Any]]
) -> list[TimelineEntry]:
    """Status changes only (what a customer may see), oldest first, starting with creation."""
    start_status_id = lifecycle_of_type(session, ticket.tenant_id, ticket.type_id).start_status_id
    statuses = statuses_of(session, ticket.tenant_id)
    entries: list[TimelineEntry] = []
    for _id, at, kind, new in rows:
        status_id = start_status_id if kind == HistoryKind.CREATED else new
        status = statuses.get(int(status_id)) if status_id is not None else None
        if status is not None:
            entries.append(TimelineEntry(at=at, status=status))
    return entries


def load_ticket_profile(session: Session, actor: Actor, ticket_id: int) -> TicketDetail:
    """The profile of a ticket the actor may see, in one statement; 404 otherwise (ids cannot be probed)."""
    shape = visibility_shape(actor)
    params = {**visibility_params(actor), "t_id": ticket_id}

    def build() -> Any:
        me: Any = bindparam("v_me")
        return (
            select(
                *(column.label(label) for label, column in _TICKET_COLUMNS),
                ServiceObject.name.label("place_name"),
                ServiceObject.path.label("place_path"),
                *_beside_columns(me),
            )
            .join(ServiceObject, ServiceObject.id == Ticket.object_id)
            .outerjoin(Rating, _actors_rating(me))
            .where(Ticket.id == bindparam("t_id"), visibility_of(shape, params))
        )

    stmt = shaped_statement(("profile", shape), build)
    rows = prebuilt_rows(session, stmt, params, carrier=True)
    if not rows:
        raise NotFound("Ticket not found")
    row = rows[0]
    ticket = _persistent_ticket(session, row)
    place = _Place(ticket.object_id, ticket.tenant_id, row.place_name, row.place_path)
    return _detail(session, actor, ticket, place, _beside_of(row))


# The ticket's columns under labels of their own (the profile's other columns have names a ticket
# attribute has too: rating_score) → (label, column, attribute).
_TICKET_ATTRIBUTES = tuple((f"t_{a.key}", a.columns[0], a.key) for a in sa_inspect(Ticket).column_attrs)
_TICKET_COLUMNS = tuple((label, column) for label, column, _key in _TICKET_ATTRIBUTES)


def _persistent_ticket(session: Session, row: Any) -> Ticket:
    """The row's ticket as an instance of the session, as if loaded (relationships still load lazily).

    Built from the profile's plain row: as an ORM entity the statement went through SQLAlchemy's
    loading machinery, ≈ 0.35 ms of a ≈ 1.5 ms ticket page.
    """
    key = identity_key(Ticket, (row.t_id,))
    found = session.identity_map.get(key)
    if isinstance(found, Ticket):
        return found
    ticket: Ticket = manager_of_class(Ticket).new_instance()
    instance_dict(ticket).update(
        (attribute, getattr(row, label)) for label, _column, attribute in _TICKET_ATTRIBUTES
    )
    make_transient_to_detached(ticket)
    session.add(ticket)
    return ticket


def ticket_detail(session: Session, actor: Actor, ticket: Ticket) -> TicketDetail:
    """The profile of a ticket already loaded (and checked visible), e.g. after a change: as this unit
    of work leaves it, so its history, executors and files so far are flushed first (the response to
    a creation showed an empty timeline)."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    params = {"ticket_id": ticket.id, "object_id": ticket.object_id, "v_me": actor.member_id}
    (row,) = prebuilt_rows(session, _BESIDE, params, carrier=True)
    place = _Place(ticket.object_id, ticket.tenant_id, row.place_name, row.place_path)
    return _detail(session, actor, ticket, place, _beside_of(row))


def _detail(session: Session, actor: Actor, ticket: Ticket, place: _Place, beside: _Beside) -> TicketDetail:
    refs = tenant_refs(session, ticket.tenant_id)
    stage = refs.stages.get(ticket.stage_id) if actor.is_staff else None
    work_type = refs.work_types.get(ticket.work_type_id) if ticket.work_type_id else None
    criticality = refs.criticalities.get(ticket.criticality_id) if ticket.criticality_id else None
    facts = facts_of(ticket, executor_ids=(p.id for p in beside.executors), works_count=beside.works)
    approver_role = session.get(Role, ticket.approver_role_id) if ticket.approver_role_id else None
    assert beside.initiator is not None
    return TicketDetail(
        ticket=ticket,
        status=refs.statuses[ticket.status_id],
        stage=stage,
        type=refs.types[ticket.type_id],
        work_type=work_type,
        criticality=criticality,
        object=Ref(place.id, place.name),
        object_path=_object_path(session, place),
        initiator=beside.initiator,
        executors=sorted(beside.executors, key=lambda p: p.name),
        approver_member=beside.approver,
        approver_role=Ref(approver_role.id, approver_role.name) if approver_role else None,
        is_favorite=beside.is_favorite,
        transitions=available_transitions_for(session, actor, ticket, facts=facts),
        can_rate=may_rate(session, actor, ticket),
        my_rating=beside.my_rating,
        timeline=_timeline(session, ticket, beside.timeline),
        files=beside.files,
    )
