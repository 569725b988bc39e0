"""Reading plans: object time zones, next occurrences and the computed calendar of planned work.

Occurrences are computed from the rule (before any ticket exists) per object, in the object's
effective time zone (its own, else the nearest ancestor's, else the tenant's).
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.catalogs.models import WorkType
from fixflow.core.errors import Forbidden, NotFound, ValidationFailed
from fixflow.objects.models import ServiceObject
from fixflow.objects.queries import (
    effective_timezone,
    get_object_for_actor,
    load_ancestors,
    path_names,
    visible_objects_predicate,
)
from fixflow.planning.models import OccurrenceStatus, Plan, PlanObject, PlanOccurrence, PlanState
from fixflow.planning.recurrence import RecurrenceError, occurrences, zone_for
from fixflow.tenants.models import Tenant

MAX_WINDOW = dt.timedelta(days=400)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_PAIRS = 5000


def tenant_timezone(session: Session, tenant_id: int) -> str:
    return session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id)) or "UTC"


def safe_zone(name: str, fallback: str) -> str:
    """A zone fixflow can evaluate: the object's, else the tenant's, else UTC (a typo never stops a plan)."""
    for candidate in (name, fallback):
        try:
            zone_for(candidate)
            return candidate
        except RecurrenceError:
            continue
    return "UTC"


def object_zones(
    objects: Iterable[ServiceObject], ancestors: dict[int, ServiceObject], default_tz: str
) -> dict[int, str]:
    return {o.id: safe_zone(effective_timezone(o, ancestors, default_tz), default_tz) for o in objects}


def next_occurrence(plan: Plan, tz: str, pending_from: dt.datetime) -> dt.datetime | None:
    """The first occurrence at or after ``pending_from`` in ``tz`` (None when the series has ended)."""
    return next(occurrences(plan.rrule, plan.first_local_dt, tz, start_utc=pending_from, limit=1), None)


def due_moment(plan: Plan, tz: str, pending_from: dt.datetime) -> dt.datetime | None:
    """When the next occurrence must be materialised: the occurrence minus the lead time."""
    if not plan.is_active:
        return None
    nxt = next_occurrence(plan, tz, pending_from)
    return None if nxt is None else nxt - dt.timedelta(minutes=plan.lead_minutes)


# --- the computed calendar -------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedItem:
    """One occurrence of one plan on one object, computed or already materialised."""

    plan_id: int
    plan_name: str
    work_type_id: int
    work_type_name: str
    object_id: int
    object_name: str
    object_path: list[str]
    timezone: str
    at: dt.datetime  # UTC
    status: str  # generated | skipped | planned | paused | not_generated
    ticket_id: int | None = None
    reason: str | None = None

    @property
    def local_at(self) -> dt.datetime:
        return self.at.astimezone(zone_for(self.timezone))


def check_window(from_utc: dt.datetime, to_utc: dt.datetime, limit: int | None) -> int:
    for name, value in (("from", from_utc), ("to", to_utc)):
        if value.tzinfo is None:
            raise ValidationFailed("{name} needs a timezone offset", name=name)
    if to_utc <= from_utc:
        raise ValidationFailed("The end of the period must be after its start")
    if to_utc - from_utc > MAX_WINDOW:
        raise ValidationFailed("The period may be at most {days} days long", days=MAX_WINDOW.days)
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed("limit must be between 1 and {max}", max=MAX_LIMIT)
    return limit


@dataclass(frozen=True)
class _Pair:
    plan: Plan
    work_type_name: str
    link: PlanObject
    obj: ServiceObject
    path: list[str]
    tz: str


def _stream(
    pair: _Pair, from_utc: dt.datetime, to_utc: dt.datetime
) -> Iterator[tuple[dt.datetime, int, int]]:
    plan = pair.plan
    for at in occurrences(plan.rrule, plan.first_local_dt, pair.tz, start_utc=from_utc, end_utc=to_utc):
        yield at, plan.id, pair.obj.id


def _settled(
    session: Session, pairs: Sequence[_Pair], keys: list[tuple[dt.datetime, int, int]]
) -> dict[tuple[int, int, dt.datetime], PlanOccurrence]:
    """Materialised rows for the listed occurrences only: bounded by the page, not the history."""
    if not keys:
        return {}
    plan_ids = {p for _, p, _ in keys}
    object_ids = {o for _, _, o in keys}
    rows = session.scalars(
        select(PlanOccurrence).where(
            PlanOccurrence.tenant_id == pairs[0].plan.tenant_id,
            PlanOccurrence.plan_id.in_(plan_ids),
            PlanOccurrence.object_id.in_(object_ids),
            PlanOccurrence.occurrence_at >= keys[0][0],
            PlanOccurrence.occurrence_at <= keys[-1][0],
        )
    )
    return {(r.plan_id, r.object_id, r.occurrence_at): r for r in rows}


def _items(
    session: Session,
    pairs: Sequence[_Pair],
    from_utc: dt.datetime,
    to_utc: dt.datetime,
    limit: int,
    *,
    upcoming_only: bool,
) -> list[PlannedItem]:
    """Occurrences of every (plan, object) pair merged by time, lazily, in chunks of ``limit``: the work
    grows with the page, not with the plans' history."""
    by_key = {(p.plan.id, p.obj.id): p for p in pairs}
    merged = heapq.merge(*(_stream(p, from_utc, to_utc) for p in pairs))
    items: list[PlannedItem] = []
    while len(items) < limit:
        keys = list(islice(merged, limit))
        if not keys:
            break
        settled = _settled(session, pairs, keys)
        for at, plan_id, object_id in keys:
            item = _item(by_key[(plan_id, object_id)], at, settled.get((plan_id, object_id, at)))
            if upcoming_only and item.status not in ("planned", OccurrenceStatus.GENERATED):
                continue
            items.append(item)
            if len(items) >= limit:
                break
    return items


def _item(pair: _Pair, at: dt.datetime, row: PlanOccurrence | None) -> PlannedItem:
    ticket_id: int | None = None
    reason: str | None = None
    if row is not None:
        status, ticket_id, reason = row.status, row.ticket_id, row.reason
    elif at < pair.link.pending_from:
        status = "not_generated"  # before the plan or the object joined it, while paused, or an old rule
    else:
        status = "planned" if pair.plan.state == PlanState.ACTIVE else "paused"
    return PlannedItem(
        plan_id=pair.plan.id,
        plan_name=pair.plan.name,
        work_type_id=pair.plan.work_type_id,
        work_type_name=pair.work_type_name,
        object_id=pair.obj.id,
        object_name=pair.obj.name,
        object_path=pair.path,
        timezone=pair.tz,
        at=at,
        status=status,
        ticket_id=ticket_id,
        reason=reason,
    )


def _pairs(session: Session, rows: Sequence[tuple[Plan, PlanObject, ServiceObject]]) -> list[_Pair]:
    if not rows:
        return []
    objects = [obj for _, _, obj in rows]
    ancestors = load_ancestors(session, objects)
    zones = object_zones(objects, ancestors, tenant_timezone(session, rows[0][0].tenant_id))
    work_type_ids = {plan.work_type_id for plan, _, _ in rows}
    names = dict(
        session.execute(select(WorkType.id, WorkType.name).where(WorkType.id.in_(work_type_ids))).all()
    )
    return [
        _Pair(plan, names.get(plan.work_type_id, ""), link, obj, path_names(obj, ancestors), zones[obj.id])
        for plan, link, obj in rows
    ]


def _require_staff(actor: Actor) -> None:
    if not actor.is_staff:
        raise Forbidden("Only staff may see plans")


def get_plan_for_actor(session: Session, actor: Actor, plan_id: int, *, for_update: bool = False) -> Plan:
    """A live plan of the actor's tenant for staff; 404 for anyone else, so ids cannot be probed."""
    stmt = select(Plan).where(
        Plan.id == plan_id, Plan.tenant_id == actor.tenant_id, Plan.deleted_at.is_(None)
    )
    if for_update:
        stmt = stmt.with_for_update()
    plan = session.scalar(stmt) if actor.is_staff else None
    if plan is None:
        raise NotFound("Plan not found")
    return plan


def plan_occurrences(
    session: Session,
    actor: Actor,
    plan_id: int,
    from_utc: dt.datetime,
    to_utc: dt.datetime,
    limit: int | None = None,
) -> list[PlannedItem]:
    """The staff calendar of one plan: every occurrence in the window with what became of it."""
    size = check_window(from_utc, to_utc, limit)
    plan = get_plan_for_actor(session, actor, plan_id)
    rows = session.execute(
        select(Plan, PlanObject, ServiceObject)
        .join(PlanObject, PlanObject.plan_id == Plan.id)
        .join(ServiceObject, ServiceObject.id == PlanObject.object_id)
        .where(Plan.id == plan.id)
        .order_by(ServiceObject.id)
        .execution_options(populate_existing=True)  # generation writes plan objects without the ORM
    ).all()
    return _items(session, _pairs(session, list(rows)), from_utc, to_utc, size, upcoming_only=False)


def object_planned(
    session: Session,
    actor: Actor,
    object_id: int,
    from_utc: dt.datetime,
    to_utc: dt.datetime,
    limit: int | None = None,
) -> list[PlannedItem]:
    """Planned work on one object: customers see their companies' objects only (404 otherwise).

    Staff see every status; customers see what is still planned or became a ticket, never skips.
    """
    size = check_window(from_utc, to_utc, limit)
    obj = get_object_for_actor(session, actor, object_id)
    return _items(
        session,
        _pairs(session, _live_rows(session, actor, ServiceObject.id == obj.id)),
        from_utc,
        to_utc,
        size,
        upcoming_only=not actor.is_staff,
    )


def upcoming_for_actor(
    session: Session, actor: Actor, from_utc: dt.datetime, to_utc: dt.datetime, limit: int | None = None
) -> list[PlannedItem]:
    """Planned work on every object the actor may see (the customer app's «Плановые работы»).

    At most ``MAX_PAIRS`` (plan, object) pairs are expanded, those falling due soonest: plenty for a
    customer's objects, and a bound on the work when a staff member with the whole tenant opens it.
    """
    size = check_window(from_utc, to_utc, limit)
    rows = _live_rows(session, actor, visible_objects_predicate(actor), cap=MAX_PAIRS)
    return _items(session, _pairs(session, rows), from_utc, to_utc, size, upcoming_only=True)


def _live_rows(
    session: Session, actor: Actor, condition: ColumnElement[bool], *, cap: int | None = None
) -> list[tuple[Plan, PlanObject, ServiceObject]]:
    stmt = (
        select(Plan, PlanObject, ServiceObject)
        .join(PlanObject, PlanObject.plan_id == Plan.id)
        .join(ServiceObject, ServiceObject.id == PlanObject.object_id)
        .where(
            Plan.tenant_id == actor.tenant_id,
            Plan.deleted_at.is_(None),
            PlanObject.tenant_id == actor.tenant_id,
            condition,
        )
        .execution_options(populate_existing=True)
    )
    if not actor.is_staff:
        stmt = stmt.where(Plan.state == PlanState.ACTIVE.value)
    if cap is not None:
        stmt = stmt.order_by(PlanObject.due_at.is_(None), PlanObject.due_at, Plan.id).limit(cap)
    else:
        stmt = stmt.order_by(Plan.id, ServiceObject.id)
    return list(session.execute(stmt).all())


def recent_skips(session: Session, plan: Plan, *, limit: int = 10) -> list[PlanOccurrence]:
    return list(
        session.scalars(
            select(PlanOccurrence)
            .where(PlanOccurrence.plan_id == plan.id, PlanOccurrence.status == OccurrenceStatus.SKIPPED.value)
            .order_by(PlanOccurrence.id.desc())
            .limit(limit)
        )
    )


__all__ = [
    "PlannedItem",
    "due_moment",
    "get_plan_for_actor",
    "next_occurrence",
    "object_planned",
    "object_zones",
    "plan_occurrences",
    "recent_skips",
    "safe_zone",
    "tenant_timezone",
    "upcoming_for_actor",
]
