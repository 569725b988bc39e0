"""Read models that only the customer-app screens need (filter options, the object picker, works).

Every object query goes through :func:`visible_objects_predicate`; nothing here filters by tenant
or company by hand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.accounts.models import Account, Member
from fixflow.catalogs.models import WorkType
from fixflow.catalogs.refs import Ref, tenant_refs
from fixflow.core.configcache import config_cached
from fixflow.core.prebuilt import prebuilt_rows
from fixflow.objects.models import ServiceObject
from fixflow.objects.queries import (
    effective_address,
    get_object_for_actor,
    load_ancestors,
    objects_visibility,
    objects_visibility_params,
    objects_visibility_shape,
    path_names,
    visible_objects_predicate,
)
from fixflow.tickets.models import Ticket
from fixflow.tickets.queries import shaped_statement
from fixflow.tickets.works import list_works

LEVEL_LIMIT = 200
SEARCH_LIMIT = 50
FILTER_OBJECTS_LIMIT = 300


def tenant_colors(session: Session, tenant_id: int) -> frozenset[str]:
    """Every status and criticality colour of the tenant, for the CSS palette."""
    return tenant_refs(session, tenant_id).colors


def statuses_for(session: Session, actor: Actor) -> tuple[Ref, ...]:
    """The same tuple for every request under one configuration (``select_options`` remembers it)."""
    return tenant_refs(session, actor.tenant_id).statuses_in_order


@dataclass(frozen=True)
class ObjectOption:
    id: int
    label: str
    depth: int


_MAX_CACHED_FILTER_LISTS = 512  # per tenant and process; each ≤ FILTER_OBJECTS_LIMIT options


def objects_for_filter(session: Session, actor: Actor) -> tuple[ObjectOption, ...]:
    """The first objects of the visible tree in tree order (materialised paths sort parents first).

    Every list page shows them, so they are kept per process under the tenant's configuration
    version, which any object added, removed, moved, renamed or (un)published replaces
    (``ServiceObject.config_attributes``); keyed by what decides visibility (staff, companies). The
    same tuple for every request under one configuration (``select_options`` remembers it).
    """
    shape, params = objects_visibility_shape(actor), objects_visibility_params(actor)
    lists: dict[Any, tuple[ObjectOption, ...]] = config_cached(
        session, actor.tenant_id, "filter_objects", dict
    )
    key = (shape, tuple(params["o_companies"]))
    found = lists.get(key)
    if found is None:
        found = _objects_for_filter(session, shape, params)
        if len(lists) >= _MAX_CACHED_FILTER_LISTS:
            lists.clear()
        lists[key] = found
    return found


def _objects_for_filter(
    session: Session, shape: tuple[bool, bool], params: dict[str, Any]
) -> tuple[ObjectOption, ...]:
    def build() -> Any:
        return (
            select(ServiceObject.id, ServiceObject.name, ServiceObject.path)
            .where(objects_visibility(*shape, params))
            .order_by(ServiceObject.path)
            .limit(FILTER_OBJECTS_LIMIT)
        )

    rows = prebuilt_rows(session, shaped_statement(("filter_objects", shape), build), params)
    shown = {r.id for r in rows}
    return tuple(
        ObjectOption(
            r.id,
            r.name,
            sum(1 for a in r.path.strip("/").split("/") if a and int(a) in shown and int(a) != r.id),
        )
        for r in rows
    )


@dataclass(frozen=True)
class ObjectNode:
    id: int
    name: str
    address: str
    path: list[str]
    has_children: bool


@dataclass(frozen=True)
class ObjectLevel:
    parent: ObjectNode | None
    crumbs: list[tuple[int, str]]
    nodes: list[ObjectNode]
    truncated: bool


def _pickable(actor: Actor) -> ColumnElement[bool]:
    """Objects a new ticket may be filed for."""
    return and_(visible_objects_predicate(actor), ServiceObject.published.is_(True))


def _roots(actor: Actor) -> ColumnElement[bool]:
    if actor.is_staff:
        return ServiceObject.parent_id.is_(None)
    # A customer's tree may hang under an object they cannot see: its top visible objects are roots.
    visible_ids = select(ServiceObject.id).where(_pickable(actor)).correlate(None)
    return or_(ServiceObject.parent_id.is_(None), ServiceObject.parent_id.not_in(visible_ids))


def _with_children(session: Session, actor: Actor, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    return {
        pid
        for pid in session.scalars(
            select(ServiceObject.parent_id)
            .where(ServiceObject.parent_id.in_(ids), _pickable(actor))
            .distinct()
        )
        if pid is not None
    }


def _nodes(session: Session, actor: Actor, rows: list[ServiceObject], with_paths: bool) -> list[ObjectNode]:
    children = _with_children(session, actor, [o.id for o in rows])
    ancestors = load_ancestors(session, rows) if with_paths else {}
    return [
        ObjectNode(
            id=o.id,
            name=o.name,
            address=effective_address(o, ancestors) if with_paths else o.address,
            path=path_names(o, ancestors) if with_paths else [o.name],
            has_children=o.id in children,
        )
        for o in rows
    ]


def object_level(session: Session, actor: Actor, parent_id: int | None) -> ObjectLevel:
    """One level of the picker tree: the roots, or the children of a visible object."""
    parent: ObjectNode | None = None
    crumbs: list[tuple[int, str]] = []
    stmt = select(ServiceObject).where(_pickable(actor))
    if parent_id is None:
        stmt = stmt.where(_roots(actor))
    else:
        obj = get_object_for_actor(session, actor, parent_id)
        ancestors = load_ancestors(session, [obj])
        visible = (
            set(
                session.scalars(
                    select(ServiceObject.id).where(
                        ServiceObject.id.in_(list(ancestors)), visible_objects_predicate(actor)
                    )
                )
            )
            if ancestors
            else set()
        )
        crumbs = [(a, ancestors[a].name) for a in obj.ancestor_ids if a in visible]
        parent = ObjectNode(obj.id, obj.name, effective_address(obj, ancestors), [], True)
        stmt = stmt.where(ServiceObject.parent_id == obj.id)
    rows = list(session.scalars(stmt.order_by(ServiceObject.name, ServiceObject.id).limit(LEVEL_LIMIT + 1)))
    return ObjectLevel(
        parent=parent,
        crumbs=crumbs,
        nodes=_nodes(session, actor, rows[:LEVEL_LIMIT], with_paths=False),
        truncated=len(rows) > LEVEL_LIMIT,
    )


def search_objects(session: Session, actor: Actor, q: str) -> tuple[list[ObjectNode], bool]:
    """Objects whose name, address or serial number contains ``q`` (case-insensitive)."""
    escaped = q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    rows = list(
        session.scalars(
            select(ServiceObject)
            .where(
                _pickable(actor),
                or_(
                    func.lower(ServiceObject.name).like(pattern, escape="\\"),
                    func.lower(ServiceObject.address).like(pattern, escape="\\"),
                    func.lower(ServiceObject.serial_number).like(pattern, escape="\\"),
                ),
            )
            .order_by(ServiceObject.name, ServiceObject.id)
            .limit(SEARCH_LIMIT + 1)
        )
    )
    return _nodes(session, actor, rows[:SEARCH_LIMIT], with_paths=True), len(rows) > SEARCH_LIMIT


def picked_object(session: Session, actor: Actor, object_id: int) -> ObjectNode:
    obj = get_object_for_actor(session, actor, object_id)
    ancestors = load_ancestors(session, [obj])
    return ObjectNode(obj.id, obj.name, effective_address(obj, ancestors), path_names(obj, ancestors), False)


@dataclass(frozen=True)
class WorkRow:
    name: str
    member: str
    quantity: Decimal
    duration_minutes: int
    comment: str
    created_at: dt.datetime


def work_rows(session: Session, ticket: Ticket) -> list[WorkRow]:
    """Works entered by executors, with names, in three queries."""
    works = list_works(session, ticket)
    if not works:
        return []
    type_names = {
        type_id: name
        for type_id, name in session.execute(
            select(WorkType.id, WorkType.name).where(WorkType.id.in_({w.work_type_id for w in works}))
        )
    }
    members = {
        m.id: m.display_name
        for m in session.scalars(select(Member).where(Member.id.in_({w.member_id for w in works})))
    }
    return [
        WorkRow(
            name=type_names.get(w.work_type_id, ""),
            member=members.get(w.member_id, ""),
            quantity=w.quantity,
            duration_minutes=w.duration_minutes,
            comment=w.comment,
            created_at=w.created_at,
        )
        for w in works
    ]


@dataclass(frozen=True)
class Profile:
    name: str
    last_name: str
    first_name: str
    email: str | None
    phone: str | None
    locale: str | None
    notification_prefs: dict[str, object]


def profile_of(session: Session, actor: Actor) -> Profile:
    member = session.get(Member, actor.member_id)
    account = session.get(Account, actor.account_id)
    assert member is not None and account is not None
    return Profile(
        name=member.display_name,
        last_name=member.last_name,
        first_name=member.first_name,
        email=account.email,
        phone=account.phone,
        locale=member.locale,
        notification_prefs=dict(member.notification_prefs or {}),
    )
