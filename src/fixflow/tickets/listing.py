"""Read models for ticket lists and counters: keyset pages, a fixed number of queries per page."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select, true, tuple_, union
from sqlalchemy.orm import Session, aliased

from fixflow.accounts.actor import Actor
from fixflow.catalogs.refs import Ref, tenant_refs
from fixflow.core.configcache import shared_version
from fixflow.core.db import utcnow
from fixflow.core.pagination import Page, check_limit, decode_cursor, encode_cursor, invalid_cursor
from fixflow.core.prebuilt import prebuilt_rows
from fixflow.core.sqlfuncs import InPath, prefix_range, prefix_upper_bound
from fixflow.objects.models import ServiceObject
from fixflow.objects.queries import ancestor_ids_of, object_names, subtree_terms
from fixflow.tickets.extensions import EXTENSIONS
from fixflow.tickets.models import Favorite, Ticket
from fixflow.tickets.queries import (
    TicketView,
    VisibilityShape,
    approval_possible,
    branch_view_term,
    favorites_of_everyone,
    shaped_statement,
    tenant_terms,
    view_branches,
    view_params,
    view_term,
    visibility_of,
    visibility_params,
    visibility_shape,
)

# A ticket number as its masks write them ("2611-0042", "A/17" aside): digits with a separator. Such a
# query is a prefix of the number, an index range. Digits alone ("0042", "15", "777") search
# everything, numbers included anywhere in them: a part of a number, a house number in an address.
NUMBER_LIKE = re.compile(r"^[0-9]+[\-/][0-9\-/]*$")
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
class TicketCard:
    id: int
    number: str
    status: Ref
    stage: Ref | None  # staff only
    object: Ref
    object_path: tuple[str, ...]  # a tuple: cards are hashable (rendered ones are memoised by value)
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


def _filter_params(filters: TicketFilters) -> dict[str, Any]:
    params: dict[str, Any] = {}
    q = (filters.q or "").strip()
    if q and NUMBER_LIKE.match(q):
        params["f_number_prefix"] = f"{_escape_like(q)}%"
        # The same prefix as a range of the (tenant, number) index: SQLite's LIKE ignores case, so it
        # never uses an index for it, and PostgreSQL's generic plans cannot turn `LIKE $1` into one.
        params["f_number_from"] = q
        params["f_number_to"] = prefix_upper_bound(q)
    elif q:
        params["f_text"] = f"%{_escape_like(q.lower())}%"
        params["f_number_part"] = f"%{_escape_like(q)}%"
    for name in ("status_id", "type_id", "criticality_id", "created_from", "created_to"):
        value = getattr(filters, name)
        if value is not None:
            params[f"f_{name}"] = value
    return params


def _cacheable(filters: TicketFilters) -> bool:
    """Filters whose terms depend only on :func:`_filter_params` (the rest read the database or the clock)."""
    return filters.object_id is None and filters.overdue is None and not filters.field_filters


def _search_terms(params: dict[str, Any], dialect: str) -> list[ColumnElement[bool]]:
    if "f_number_prefix" in params:
        # Number search stays an index range scan on (tenant_id, number): PostgreSQL through the
        # pattern-ops index, SQLite (binary comparison) through the unique index; LIKE stays exact.
        terms: list[ColumnElement[bool]] = [
            Ticket.number.like(bindparam("f_number_prefix", params["f_number_prefix"]), escape="\\")
        ]
        low: Any = bindparam("f_number_from", params["f_number_from"])
        high: Any = bindparam("f_number_to", params["f_number_to"])
        terms += prefix_range(dialect, Ticket.number, low, high)  # ix_tickets_tenant_number_pattern
        return terms
    if "f_text" not in params:
        return []
    text: Any = bindparam("f_text", params["f_text"])
    # The object as its card shows it, with the places above it («Площадка 1-7 › Витрина №17»): a
    # site's name finds the tickets of its equipment. Lists also join ServiceObject; aliases keep
    # this subquery correlated to Ticket only.
    obj, place = aliased(ServiceObject), aliased(ServiceObject)
    object_match = (
        select(place.id)
        .select_from(obj)
        .join(place, InPath(place.id, obj.path))
        .where(obj.id == Ticket.object_id, func.lower(place.name).like(text, escape="\\"))
        .exists()
    )
    return [
        or_(
            func.lower(Ticket.description).like(text, escape="\\"),
            func.lower(Ticket.address).like(text, escape="\\"),
            Ticket.number.like(bindparam("f_number_part", params["f_number_part"]), escape="\\"),
            object_match,
        )
    ]


def _filter_terms(params: dict[str, Any], dialect: str) -> list[ColumnElement[bool]]:
    def value(name: str, column: Any) -> Any:  # typed like its column (UTC datetimes on SQLite)
        return bindparam(name, params[name], type_=column.type)

    terms = _search_terms(params, dialect)
    if "f_status_id" in params:
        terms.append(Ticket.status_id == value("f_status_id", Ticket.status_id))
    if "f_type_id" in params:
        terms.append(Ticket.type_id == value("f_type_id", Ticket.type_id))
    if "f_criticality_id" in params:
        terms.append(Ticket.criticality_id == value("f_criticality_id", Ticket.criticality_id))
    if "f_created_from" in params:
        terms.append(Ticket.created_at >= value("f_created_from", Ticket.created_at))
    if "f_created_to" in params:
        terms.append(Ticket.created_at < value("f_created_to", Ticket.created_at))
    return terms


def _uncached_filter_terms(
    session: Session, actor: Actor, filters: TicketFilters
) -> list[ColumnElement[bool]]:
    """Filters that read the database or the clock while building: never part of a cached statement."""
    terms: list[ColumnElement[bool]] = []
    if filters.overdue is not None:
        terms.append(overdue_predicate() if filters.overdue else ~overdue_predicate())
    if filters.field_filters:
        terms.extend(EXTENSIONS.fields.filter_terms(session, actor, filters.field_filters))
    if filters.object_id is not None:
        root = session.get(ServiceObject, filters.object_id)
        if root is None or root.tenant_id != actor.tenant_id:
            terms.append(Ticket.id.is_(None))
        else:
            dialect = session.get_bind().dialect.name
            subtree = select(ServiceObject.id).where(*subtree_terms(dialect, actor.tenant_id, root.path))
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
    return _overdue(ticket.deadline, ticket.completed_at, ticket.closed_at, utcnow())


def _overdue(
    deadline: dt.datetime | None,
    completed_at: dt.datetime | None,
    closed_at: dt.datetime | None,
    now: dt.datetime,
) -> bool:
    if deadline is None:
        return False
    if completed_at is not None:
        return completed_at > deadline
    return closed_at is None and deadline < now


def _params(session: Session, actor: Actor, view: TicketView, filters: TicketFilters) -> dict[str, Any]:
    return {**visibility_params(actor), **view_params(session, actor, view), **_filter_params(filters)}


def list_tickets(
    session: Session,
    actor: Actor,
    view: TicketView,
    filters: TicketFilters,
    *,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[TicketCard]:
    page, _counts = _list(session, actor, view, filters, limit=limit, cursor=cursor, counted=())
    return page


def list_tickets_with_counts(
    session: Session,
    actor: Actor,
    view: TicketView,
    filters: TicketFilters,
    *,
    cursor: str | None = None,
    counted: tuple[TicketView, ...] = tuple(TicketView),
) -> tuple[Page[TicketCard], dict[str, int]]:
    """A page and the ``counted`` tabs' counters (:func:`count_views`) together, as a list page shows
    them (the customer app's only shows the approval badge: counting the other tabs was most of what
    its statement cost PostgreSQL).

    The counters ride on the page's own statement as columns (each an uncorrelated subquery, which
    PostgreSQL runs once); only an empty page needs them read on their own.
    """
    page, counts = _list(session, actor, view, filters, limit=None, cursor=cursor, counted=counted)
    if counts is None:
        counts = count_views(session, actor, counted) if counted else {}
    return page, counts


def _list(
    session: Session,
    actor: Actor,
    view: TicketView,
    filters: TicketFilters,
    *,
    limit: int | None,
    cursor: str | None,
    counted: tuple[TicketView, ...],
) -> tuple[Page[TicketCard], dict[str, int] | None]:
    size = check_limit(limit)
    archive = view is TicketView.ARCHIVE
    shape = visibility_shape(actor)
    params = _params(session, actor, view, filters)
    if TicketView.APPROVAL in counted:
        params.update(view_params(session, actor, TicketView.APPROVAL))
    if cursor:
        params.update(_cursor_params(cursor, archive=archive))

    by_branch = _by_branch(session, shape)

    def build() -> Any:
        stmt = _list_statement(session, actor, view, filters, shape, params, size, by_branch)
        columns = _count_columns(counted, shape, params, by_branch, session.get_bind().dialect.name)
        return stmt.add_columns(*columns) if counted else stmt

    rows: Sequence[Any]
    if _cacheable(filters):
        dialect = session.get_bind().dialect.name
        key = ("list", dialect, shape, view, approval_possible(params), frozenset(params), size, by_branch)
        order = ("closed_at", "id") if archive else ("id",)
        stmt = shaped_statement((*key, counted), build)
        rows = prebuilt_rows(session, stmt, params, carrier=True, newest_first=order)
    else:
        rows = session.execute(build(), params).all()
    counts = None
    if counted and rows:
        counts = {v.value: int(getattr(rows[0], _COUNT_LABEL + v.value)) for v in counted}
    has_more = len(rows) > size
    rows = rows[:size]
    cards = _cards(session, actor, rows)
    next_cursor = None
    if has_more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(
            [last.closed_at.isoformat(), last.id] if archive and last.closed_at else [last.id]
        )
    return Page(items=cards, next_cursor=next_cursor), counts


def _by_branch(session: Session, shape: VisibilityShape) -> bool:
    """Whether to run the scopes as separate index scans (see ``_list_statement``)."""
    if shape.company:
        return True
    several = sum((shape.own, shape.approval, shape.approval and shape.by_role, shape.assigned)) > 1
    return several and session.get_bind().dialect.name == "sqlite"


def _branch_order(archive: bool, dialect: str) -> tuple[Any, ...]:
    """A scope branch's own first rows, newest first.

    On SQLite the id is ordered as an expression (``id + 0``, the same order): as a plain column SQLite
    walks the tenant's open tickets in id order until the limit is met, which for a rare branch (a
    company's colleagues) reads every open ticket of the tenant (23 ms a customer admin's page on M);
    as an expression it takes the branch's own index and sorts the branch's few rows.
    """
    newest: Any = Ticket.id + 0 if dialect == "sqlite" else Ticket.id
    return (Ticket.closed_at.desc(), newest.desc()) if archive else (newest.desc(),)


def _cursor_params(cursor: str, *, archive: bool) -> dict[str, Any]:
    if archive:
        closed_iso, last_id = decode_cursor(cursor, arity=2, kinds=(str, int))
        try:
            closed = dt.datetime.fromisoformat(closed_iso)
        except (TypeError, ValueError):
            raise invalid_cursor() from None
        if closed.tzinfo is None:
            raise invalid_cursor()
        return {"c_closed": closed, "c_id": int(last_id)}
    (last_id,) = decode_cursor(cursor, arity=1, kinds=(int,))
    return {"c_id": int(last_id)}


def _list_statement(
    session: Session,
    actor: Actor,
    view: TicketView,
    filters: TicketFilters,
    shape: VisibilityShape,
    params: dict[str, Any],
    size: int,
    by_branch: bool,
) -> Any:
    """The page query; ids come from ``params`` only (it may serve every actor of this shape)."""
    archive = view is TicketView.ARCHIVE
    narrowing = [
        *_filter_terms(params, session.get_bind().dialect.name),
        *_uncached_filter_terms(session, actor, filters),
    ]
    if "c_id" in params:
        last_id: Any = bindparam("c_id", params["c_id"])
        if archive:
            closed = bindparam("c_closed", params["c_closed"], type_=Ticket.closed_at.type)
            narrowing.append(tuple_(Ticket.closed_at, Ticket.id) < tuple_(closed, last_id))
        else:
            narrowing.append(Ticket.id < last_id)
    order = (Ticket.closed_at.desc(), Ticket.id.desc()) if archive else (Ticket.id.desc(),)
    stmt = (
        select(*_CARD_COLUMNS, _favorite_flag(shape, params).label("is_favorite"))
        .join(ServiceObject, ServiceObject.id == Ticket.object_id)
        .where(visibility_of(shape, params), view_term(view, shape, params), *narrowing)
    )
    if not shape.all_tickets:
        mine = and_(Favorite.ticket_id == Ticket.id, Favorite.member_id == bindparam("v_me", params["v_me"]))
        stmt = stmt.outerjoin(Favorite, mine)
    branches = view_branches(view, shape, params)
    if branches and by_branch:
        # A company's tickets come from several indexes (company, colleagues, approvals); one OR over
        # them makes PostgreSQL walk the tenant's whole open/closed range filtering (SQLite does so for
        # every OR of scopes). Instead each branch yields its own first page by its own index, and the
        # page is cut from their union.
        # The page's ids are cut from that union before the join: the tickets, objects and favourites
        # are then read for the page's rows only, not for every branch's first page.
        common = [*tenant_terms(shape, params), branch_view_term(view, shape, params), *narrowing]
        keys = (Ticket.closed_at, Ticket.id) if archive else (Ticket.id,)
        first_order = _branch_order(archive, session.get_bind().dialect.name)
        firsts = [
            select(*keys).where(*common, branch).order_by(*first_order).limit(size + 1).subquery()
            for branch in branches
        ]
        ids = union(*(select(*first.c) for first in firsts)).subquery()
        page_order = (ids.c.closed_at.desc(), ids.c.id.desc()) if archive else (ids.c.id.desc(),)
        stmt = stmt.where(Ticket.id.in_(select(ids.c.id).order_by(*page_order).limit(size + 1)))
    return stmt.order_by(*order).limit(size + 1)


def _favorite_flag(shape: VisibilityShape, params: dict[str, Any]) -> Any:
    """Whether each row is the actor's favourite (with the outer join the list adds for customers).

    A customer has a few favourites: an outer join reads them once (a merge with the page). Staff who
    see everything may have hundreds, and in the archive's order PostgreSQL compared every page row with
    every one of them (a dispatcher's 526: 13,676 comparisons, 1 ms); for them one probe of the unique
    (member, ticket) index per row, which the LIMIT keeps a probe (an EXISTS would be hashed whole).
    """
    if not shape.all_tickets:
        return Favorite.ticket_id.is_not(None)
    me: Any = bindparam("v_me", params["v_me"])
    probe = select(true()).where(Favorite.member_id == me, Favorite.ticket_id == Ticket.id).limit(1)
    return probe.scalar_subquery().is_not(None)


# What a card shows, as columns: a list never loads whole tickets or objects.
_CARD_COLUMNS = (
    Ticket.id,
    Ticket.number,
    Ticket.status_id,
    Ticket.stage_id,
    Ticket.object_id,
    Ticket.description,
    Ticket.criticality_id,
    Ticket.type_id,
    Ticket.created_at,
    Ticket.closed_at,
    Ticket.completed_at,
    Ticket.deadline,
    Ticket.version,
    ServiceObject.name.label("object_name"),
    ServiceObject.path.label("object_path"),
)


_CARD_WIDTH = len(_CARD_COLUMNS) + 1  # and is_favorite; counters and a carried check may follow
# (tenant, configuration version, staff, overdue, card columns) → card. Plain dict: single operations
# are atomic under the GIL. Cleared when full, ≈ 1 KB an entry.
_remembered_cards: dict[tuple[Any, ...], TicketCard] = {}
_MAX_REMEMBERED_CARDS = 4096


def _cards(session: Session, actor: Actor, rows: Sequence[Any]) -> list[TicketCard]:
    """Cards from the page's rows plus one query for the names of the objects' ancestors.

    Cards are remembered per process by the row they come from (its card columns: plain values,
    hashed in C), whether it is overdue now and whether stages show, under the tenant's configuration
    version (renamed statuses or objects replace it): nothing else goes into a card. A list shows
    mostly the cards it showed before, and building 25 of them was a tenth of a list page; the same
    card object also lets its HTML be remembered by identity (``core.templating.memo_cards``).
    """
    if not rows:
        return []
    version = shared_version(session, actor.tenant_id)
    now = utcnow()
    if version is None:
        return _build_cards(session, actor, rows, now)
    tenant, staff = actor.tenant_id, actor.is_staff
    keys = [
        (
            tenant,
            version,
            staff,
            _overdue(r.deadline, r.completed_at, r.closed_at, now),
            tuple(r[:_CARD_WIDTH]),
        )
        for r in rows
    ]
    cards = [_remembered_cards.get(key) for key in keys]
    missing = [i for i, card in enumerate(cards) if card is None]
    if missing:
        built = _build_cards(session, actor, [rows[i] for i in missing], now)
        if len(_remembered_cards) + len(built) > _MAX_REMEMBERED_CARDS:
            _remembered_cards.clear()
        for i, card in zip(missing, built, strict=True):
            cards[i] = _remembered_cards[keys[i]] = card
    return cast(list[TicketCard], cards)


def _build_cards(session: Session, actor: Actor, rows: Sequence[Any], now: dt.datetime) -> list[TicketCard]:
    refs = tenant_refs(session, actor.tenant_id)
    ancestry = {r.object_id: ancestor_ids_of(r.object_id, r.object_path) for r in rows}
    names = object_names(session, actor.tenant_id, (a for ids in ancestry.values() for a in ids))
    return [
        TicketCard(
            id=r.id,
            number=r.number,
            status=refs.statuses[r.status_id],
            stage=refs.stages.get(r.stage_id) if actor.is_staff else None,
            object=Ref(r.object_id, r.object_name),
            object_path=(*(names[a] for a in ancestry[r.object_id] if a in names), r.object_name),
            description=r.description,
            criticality=refs.criticalities.get(r.criticality_id) if r.criticality_id else None,
            type=refs.types[r.type_id],
            created_at=r.created_at,
            closed_at=r.closed_at,
            deadline=r.deadline,
            is_favorite=bool(r.is_favorite),
            is_overdue=_overdue(r.deadline, r.completed_at, r.closed_at, now),
            version=r.version,
        )
        for r in rows
    ]


_COUNT_LABEL = "count_"


def count_views(
    session: Session, actor: Actor, views: tuple[TicketView, ...] = tuple(TicketView)
) -> dict[str, int]:
    """One number per tab in one round trip, each capped at COUNT_CAP+1 so no counter scans a table."""
    shape = visibility_shape(actor)
    params = {**visibility_params(actor), **view_params(session, actor, TicketView.APPROVAL)}
    by_branch = _by_branch(session, shape)
    dialect = session.get_bind().dialect.name

    def build() -> Any:
        return select(*_count_columns(views, shape, params, by_branch, dialect))

    stmt = shaped_statement(("counts", dialect, shape, approval_possible(params), by_branch, views), build)
    (row,) = prebuilt_rows(session, stmt, params, carrier=True)
    return {view.value: int(getattr(row, _COUNT_LABEL + view.value)) for view in views}


def _count_columns(
    views: tuple[TicketView, ...],
    shape: VisibilityShape,
    params: dict[str, Any],
    by_branch: bool,
    dialect: str,
) -> list[Any]:
    counters = []
    for view in views:
        if by_branch:
            counters.append(_count_by_branch(view, shape, params, dialect).label(_COUNT_LABEL + view.value))
            continue
        if view is TicketView.FAVORITES and shape.all_tickets:
            capped = favorites_of_everyone(shape, params).limit(COUNT_CAP + 1)
        else:
            where = and_(visibility_of(shape, params), view_term(view, shape, params))
            # In the lists' order, so the cap stops an index scan: unordered, PostgreSQL may read the
            # heap from its oldest (mostly closed) tickets to find the first 1,000 open ones.
            order = (
                (Ticket.closed_at.desc(), Ticket.id.desc())
                if view is TicketView.ARCHIVE
                else (Ticket.id.desc(),)
            )
            capped = select(Ticket.id).where(where).order_by(*order).limit(COUNT_CAP + 1)
        counters.append(
            select(func.count())
            .select_from(capped.subquery())
            .scalar_subquery()
            .label(_COUNT_LABEL + view.value)
        )
    return counters


def _count_by_branch(view: TicketView, shape: VisibilityShape, params: dict[str, Any], dialect: str) -> Any:
    """A capped count as the distinct ids of each scope branch's own capped index scan (list order)."""
    branches = view_branches(view, shape, params) or []
    narrowing = [*tenant_terms(shape, params), branch_view_term(view, shape, params)]
    order = _branch_order(view is TicketView.ARCHIVE, dialect)
    firsts = [
        select(Ticket.id).where(*narrowing, branch).order_by(*order).limit(COUNT_CAP + 1).subquery()
        for branch in branches
    ]
    ids = union(*(select(first.c.id) for first in firsts)).subquery()
    capped = select(ids.c.id).limit(COUNT_CAP + 1).subquery()
    return select(func.count()).select_from(capped).scalar_subquery()
