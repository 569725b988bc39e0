"""Read models for ticket lists and counters: keyset pages, a fixed number of queries per page."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.catalogs.models import Criticality, TicketType
from fixflow.core.db import utcnow
from fixflow.core.pagination import Page, check_limit, decode_cursor, encode_cursor, invalid_cursor
from fixflow.objects.models import ServiceObject
from fixflow.objects.queries import load_ancestors, path_names
from fixflow.tickets.extensions import EXTENSIONS
from fixflow.tickets.models import Favorite, Ticket
from fixflow.tickets.queries import TicketView, view_predicate, visible_tickets_predicate
from fixflow.workflow.models import Stage, Status

NUMBER_LIKE = re.compile(r"^[0-9][0-9\-/]*$")
COUNT_CAP = 999


@dataclass(frozen=True)
class TicketFilters:
    q: str | None = None
    status_id: int | None = None
    object_id: int | None = None
    type_id: int | None = None
    criticality_id: int | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    overdue: bool | None = None
    field_filters: dict[str, str] = field(default_factory=dict)  # raw ``f.<code>…`` parameters

    @property
    def active(self) -> bool:
        return any(v not in (None, "", {}) for v in vars(self).values())


@dataclass(frozen=True)
class Ref:
    id: int
    name: str
    color: str | None = None


@dataclass(frozen=True)
class TicketCard:
    id: int
    number: str
    status: Ref
    stage: Ref | None  # staff only
    object: Ref
    object_path: list[str]
    description: str
    criticality: Ref | None
    type: Ref
    created_at: dt.datetime
    closed_at: dt.datetime | None
    deadline: dt.datetime | None
    is_favorite: bool
    is_overdue: bool
    version: int


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search(q: str) -> ColumnElement[bool]:
    q = q.strip()
    if NUMBER_LIKE.match(q):
        # Number search stays an index range scan on (tenant_id, number).
        return Ticket.number.like(f"{_escape_like(q)}%", escape="\\")
    pattern = f"%{_escape_like(q.lower())}%"
    object_match = (
        select(ServiceObject.id)
        .where(
            ServiceObject.id == Ticket.object_id, func.lower(ServiceObject.name).like(pattern, escape="\\")
        )
        .exists()
    )
    return or_(
        func.lower(Ticket.description).like(pattern, escape="\\"),
        func.lower(Ticket.address).like(pattern, escape="\\"),
        Ticket.number.like(f"%{_escape_like(q)}%", escape="\\"),
        object_match,
    )


def _filter_terms(session: Session, actor: Actor, filters: TicketFilters) -> list[ColumnElement[bool]]:
    terms: list[ColumnElement[bool]] = []
    if filters.q and filters.q.strip():
        terms.append(_search(filters.q))
    if filters.status_id is not None:
        terms.append(Ticket.status_id == filters.status_id)
    if filters.type_id is not None:
        terms.append(Ticket.type_id == filters.type_id)
    if filters.criticality_id is not None:
        terms.append(Ticket.criticality_id == filters.criticality_id)
    if filters.created_from is not None:
        terms.append(Ticket.created_at >= filters.created_from)
    if filters.created_to is not None:
        terms.append(Ticket.created_at < filters.created_to)
    if filters.overdue is not None:
        terms.append(overdue_predicate() if filters.overdue else ~overdue_predicate())
    if filters.field_filters:
        terms.extend(EXTENSIONS.fields.filter_terms(session, actor, filters.field_filters))
    if filters.object_id is not None:
        root = session.get(ServiceObject, filters.object_id)
        if root is None or root.tenant_id != actor.tenant_id:
            terms.append(Ticket.id.is_(None))
        else:
            subtree = select(ServiceObject.id).where(
                ServiceObject.tenant_id == actor.tenant_id, ServiceObject.path.like(f"{root.path}%")
            )
            terms.append(Ticket.object_id.in_(subtree))
    return terms


def overdue_predicate() -> ColumnElement[bool]:
    """Open past its deadline, or completed after it (spec/domain.md §7). Never NULL, so it negates."""
    return and_(
        Ticket.deadline.is_not(None),
        or_(
            and_(Ticket.closed_at.is_(None), Ticket.completed_at.is_(None), Ticket.deadline < utcnow()),
            and_(Ticket.completed_at.is_not(None), Ticket.completed_at > Ticket.deadline),
        ),
    )


def is_overdue(ticket: Ticket) -> bool:
    if ticket.deadline is None:
        return False
    if ticket.completed_at is not None:
        return ticket.completed_at > ticket.deadline
    return ticket.closed_at is None and ticket.deadline < utcnow()


def _where(session: Session, actor: Actor, view: TicketView, filters: TicketFilters) -> ColumnElement[bool]:
    return and_(
        visible_tickets_predicate(actor),
        view_predicate(session, actor, view),
        *_filter_terms(session, actor, filters),
    )


def list_tickets(
    session: Session,
    actor: Actor,
    view: TicketView,
    filters: TicketFilters,
    *,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[TicketCard]:
    size = check_limit(limit)
    archive = view is TicketView.ARCHIVE
    stmt = select(Ticket).where(_where(session, actor, view, filters))
    if cursor:
        if archive:
            closed_iso, last_id = decode_cursor(cursor, arity=2, kinds=(str, int))
            try:
                closed = dt.datetime.fromisoformat(closed_iso)
            except (TypeError, ValueError):
                raise invalid_cursor() from None
            if closed.tzinfo is None:
                raise invalid_cursor()
            stmt = stmt.where(tuple_(Ticket.closed_at, Ticket.id) < tuple_(closed, int(last_id)))
        else:
            (last_id,) = decode_cursor(cursor, arity=1, kinds=(int,))
            stmt = stmt.where(Ticket.id < int(last_id))
    order = (Ticket.closed_at.desc(), Ticket.id.desc()) if archive else (Ticket.id.desc(),)
    tickets = list(session.scalars(stmt.order_by(*order).limit(size + 1)))
    has_more = len(tickets) > size
    tickets = tickets[:size]
    cards = build_cards(session, actor, tickets)
    next_cursor = None
    if has_more and tickets:
        last = tickets[-1]
        next_cursor = encode_cursor(
            [last.closed_at.isoformat(), last.id] if archive and last.closed_at else [last.id]
        )
    return Page(items=cards, next_cursor=next_cursor)


def build_cards(session: Session, actor: Actor, tickets: list[Ticket]) -> list[TicketCard]:
    """Everything a card shows, in a fixed number of queries whatever the page size."""
    if not tickets:
        return []
    ids = [t.id for t in tickets]
    objects = {
        o.id: o
        for o in session.scalars(
            select(ServiceObject).where(ServiceObject.id.in_({t.object_id for t in tickets}))
        )
    }
    ancestors = load_ancestors(session, objects.values())
    statuses = {
        s.id: s for s in session.scalars(select(Status).where(Status.id.in_({t.status_id for t in tickets})))
    }
    stages = (
        {s.id: s for s in session.scalars(select(Stage).where(Stage.id.in_({t.stage_id for t in tickets})))}
        if actor.is_staff
        else {}
    )
    catalog = _catalog_refs(session, actor.tenant_id)
    favorites = set(
        session.scalars(
            select(Favorite.ticket_id).where(
                Favorite.member_id == actor.member_id, Favorite.ticket_id.in_(ids)
            )
        )
    )
    cards = []
    for t in tickets:
        obj = objects[t.object_id]
        status = statuses[t.status_id]
        stage = stages.get(t.stage_id)
        cards.append(
            TicketCard(
                id=t.id,
                number=t.number,
                status=Ref(status.id, status.name, status.color),
                stage=Ref(stage.id, stage.name, stage.color) if stage else None,
                object=Ref(obj.id, obj.name),
                object_path=path_names(obj, ancestors),
                description=t.description,
                criticality=catalog.criticalities.get(t.criticality_id) if t.criticality_id else None,
                type=catalog.types[t.type_id],
                created_at=t.created_at,
                closed_at=t.closed_at,
                deadline=t.deadline,
                is_favorite=t.id in favorites,
                is_overdue=is_overdue(t),
                version=t.version,
            )
        )
    return cards


@dataclass(frozen=True)
class CatalogRefs:
    types: dict[int, Ref]
    criticalities: dict[int, Ref]


def _catalog_refs(session: Session, tenant_id: int) -> CatalogRefs:
    types = session.execute(select(TicketType.id, TicketType.name).where(TicketType.tenant_id == tenant_id))
    criticalities = session.execute(
        select(Criticality.id, Criticality.name, Criticality.color).where(Criticality.tenant_id == tenant_id)
    )
    return CatalogRefs(
        types={r.id: Ref(r.id, r.name) for r in types},
        criticalities={r.id: Ref(r.id, r.name, r.color) for r in criticalities},
    )


def count_views(session: Session, actor: Actor) -> dict[str, int]:
    """One number per tab in one round trip, each capped at COUNT_CAP+1 so no counter scans a table."""
    counters = []
    for view in TicketView:
        capped = select(Ticket.id).where(_where(session, actor, view, TicketFilters())).limit(COUNT_CAP + 1)
        counters.append(
            select(func.count()).select_from(capped.subquery()).scalar_subquery().label(view.value)
        )
    row = session.execute(select(*counters)).one()
    return {view.value: int(row._mapping[view.value]) for view in TicketView}
