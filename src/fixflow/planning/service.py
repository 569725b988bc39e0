"""Plan writes: create, edit, pause, resume, delete (staff with ``plan.manage``).

Edits never touch tickets already generated: generation reads the plan when it materialises an
occurrence, so a change applies from the next one. A schedule change (rule, first occurrence) also moves
every object's ``pending_from`` to now, so the new rule is never back-filled into the past; resuming does
the same, which is what tells "paused" apart from "the worker was down" (that leaves ``pending_from``
alone, so the next run catches up). Pausing or changing the rule first materialises what had already
fallen due, so an occurrence missed while the worker was down is never dropped by either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.accounts.permissions import Permission
from fixflow.core.db import utcnow
from fixflow.core.errors import ErrorCollector, Forbidden, ValidationFailed, VersionConflict
from fixflow.objects.models import ServiceObject
from fixflow.objects.queries import load_ancestors
from fixflow.planning.generation import generate_batch
from fixflow.planning.listing import PlanSummary, list_plans, plan_summaries
from fixflow.planning.models import Plan, PlanObject, PlanState
from fixflow.planning.queries import (
    due_moment,
    get_plan_for_actor,
    object_planned,
    object_zones,
    plan_occurrences,
    tenant_timezone,
    upcoming_for_actor,
)
from fixflow.planning.recurrence import Recurrence
from fixflow.planning.validation import first_local_text, rrule_text, validate_values

SCHEDULE_FIELDS = frozenset({"recurrence", "first_local"})
EDITABLE = frozenset(
    {
        "name",
        "description",
        "ticket_type_id",
        "work_type_id",
        "criticality_id",
        "executor_ids",
        "object_ids",
        "recurrence",
        "first_local",
        "lead_minutes",
        "deadline_offset_minutes",
    }
)


__all__ = [  # reads live in queries.py and listing.py; re-exported for callers of the service
    "PlanDraft",
    "PlanSummary",
    "PlanVersionConflict",
    "check_plan_version",
    "create_plan",
    "delete_plan",
    "get_plan_for_actor",
    "list_plans",
    "object_planned",
    "pause_plan",
    "plan_occurrences",
    "plan_summaries",
    "require_manager",
    "resume_plan",
    "upcoming_for_actor",
    "update_plan",
]


class PlanVersionConflict(VersionConflict):
    title = "The plan was changed by someone else"


@dataclass
class PlanDraft:
    name: str
    ticket_type_id: int
    work_type_id: int
    object_ids: list[int]
    description: str
    recurrence: Recurrence | str
    first_local: dt.datetime
    criticality_id: int | None = None
    executor_ids: list[int] = field(default_factory=list)
    lead_minutes: int = 0
    deadline_offset_minutes: int = 0
    state: str = PlanState.ACTIVE.value


def require_manager(actor: Actor) -> None:
    if not (actor.is_staff and actor.can(Permission.PLAN_MANAGE)):
        raise Forbidden("You may not manage plans")


def _draft_values(draft: PlanDraft, errors: ErrorCollector) -> dict[str, Any]:
    if draft.state not in (PlanState.ACTIVE, PlanState.PAUSED):
        errors.add("state", "A plan is active or paused")
    return {
        "name": draft.name,
        "ticket_type_id": draft.ticket_type_id,
        "work_type_id": draft.work_type_id,
        "object_ids": list(draft.object_ids),
        "description": draft.description,
        "criticality_id": draft.criticality_id,
        "executor_ids": list(draft.executor_ids),
        "rrule": rrule_text(draft.recurrence, errors),
        "first_local": first_local_text(draft.first_local, errors),
        "lead_minutes": draft.lead_minutes,
        "deadline_offset_minutes": draft.deadline_offset_minutes,
    }


# --- writes ----------------------------------------------------------------------------------------


def create_plan(session: Session, actor: Actor, draft: PlanDraft, *, now: dt.datetime | None = None) -> Plan:
    require_manager(actor)
    now = now or utcnow()
    errors = ErrorCollector()
    values = _draft_values(draft, errors)
    try:
        objects = validate_values(session, actor.tenant_id, values, set(EDITABLE))
    except ValidationFailed as exc:
        errors.problems.extend(exc.errors)
    errors.raise_if_any()
    plan = Plan(
        tenant_id=actor.tenant_id,
        name=values["name"].strip(),
        ticket_type_id=values["ticket_type_id"],
        work_type_id=values["work_type_id"],
        description=values["description"].strip(),
        criticality_id=values["criticality_id"],
        executor_ids=values["executor_ids"],
        rrule=values["rrule"],
        first_local=values["first_local"],
        lead_minutes=values["lead_minutes"],
        deadline_offset_minutes=values["deadline_offset_minutes"],
        state=draft.state,
        author_id=actor.member_id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(plan)
    session.flush()
    _add_objects(session, plan, objects, now)
    return plan


def _add_objects(session: Session, plan: Plan, objects: Sequence[ServiceObject], now: dt.datetime) -> None:
    """Objects join at ``now``: a new object is never back-filled with the plan's past occurrences."""
    links = [
        PlanObject(tenant_id=plan.tenant_id, plan_id=plan.id, object_id=o.id, added_at=now, pending_from=now)
        for o in objects
    ]
    session.add_all(links)
    session.flush()
    _refresh_due(session, plan, links)


def _refresh_due(session: Session, plan: Plan, links: Sequence[PlanObject]) -> None:
    """Recompute when each object's next occurrence falls due (NULL for a paused or deleted plan)."""
    if not links:
        return
    objects = {
        o.id: o
        for o in session.scalars(
            select(ServiceObject).where(ServiceObject.id.in_({x.object_id for x in links}))
        )
    }
    zones = object_zones(
        objects.values(), load_ancestors(session, objects.values()), tenant_timezone(session, plan.tenant_id)
    )
    for link in links:
        link.due_at = due_moment(plan, zones[link.object_id], link.pending_from)
    session.flush()


def _links(session: Session, plan: Plan) -> list[PlanObject]:
    """The plan's objects, locked against a generator batch on PostgreSQL (it locks them too)."""
    return list(
        session.scalars(
            select(PlanObject)
            .where(PlanObject.plan_id == plan.id)
            .order_by(PlanObject.object_id)
            .with_for_update()
            .execution_options(populate_existing=True)  # generation writes these rows without the ORM
        )
    )


def _settle_due(session: Session, plan: Plan, now: dt.datetime) -> list[PlanObject]:
    """Materialise what already fell due under the current rule before a pause or a new rule.

    Normally nothing is: the worker runs every minute. But occurrences that came due while the worker
    was down belong to the old rule and the active plan, so neither the pause nor the edit may drop them.
    """
    if plan.state == PlanState.ACTIVE:
        while generate_batch(session, now=now, plan_id=plan.id).more:
            pass
    return _links(session, plan)


def _bump(plan: Plan, now: dt.datetime) -> None:
    plan.version += 1
    plan.updated_at = now


def check_plan_version(plan: Plan, version: int) -> None:
    if plan.version != version:
        raise PlanVersionConflict(
            "The plan was changed by someone else. Reload it and try again.", current_version=plan.version
        )


def update_plan(
    session: Session,
    actor: Actor,
    plan: Plan,
    *,
    version: int,
    changes: dict[str, Any],
    now: dt.datetime | None = None,
) -> Plan:
    """PATCH semantics: only the keys present change. Applies to occurrences not yet generated."""
    require_manager(actor)
    check_plan_version(plan, version)
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValidationFailed("Unknown field: {names}", names=", ".join(sorted(unknown)))
    now = now or utcnow()
    links = _links(session, plan)
    errors = ErrorCollector()
    values = _current_values(plan, [x.object_id for x in links])
    for key, value in changes.items():
        if value is None and key != "criticality_id":
            errors.add(key, "This field cannot be empty")
        elif key == "recurrence":
            values["rrule"] = rrule_text(value, errors)
        elif key == "first_local":
            values["first_local"] = first_local_text(value, errors)
        else:
            values[key] = list(value) if key in ("object_ids", "executor_ids") else value
    errors.raise_if_any()
    changed = set(changes)
    if "work_type_id" in changed or "ticket_type_id" in changed:
        changed |= {"ticket_type_id", "work_type_id", "criticality_id"}
    try:
        objects = validate_values(session, plan.tenant_id, values, changed)
    except ValidationFailed as exc:
        errors.problems.extend(exc.errors)
    errors.raise_if_any()
    if changed & SCHEDULE_FIELDS:
        links = _settle_due(session, plan, now)
        for link in links:
            link.pending_from = max(link.pending_from, now)
    _apply(plan, values)
    kept = _sync_objects(session, plan, links, objects, values["object_ids"], now)
    _refresh_due(session, plan, kept)
    _bump(plan, now)
    session.flush()
    return plan


def _current_values(plan: Plan, object_ids: list[int]) -> dict[str, Any]:
    return {
        "name": plan.name,
        "ticket_type_id": plan.ticket_type_id,
        "work_type_id": plan.work_type_id,
        "object_ids": object_ids,
        "description": plan.description,
        "criticality_id": plan.criticality_id,
        "executor_ids": list(plan.executor_ids),
        "rrule": plan.rrule,
        "first_local": plan.first_local,
        "lead_minutes": plan.lead_minutes,
        "deadline_offset_minutes": plan.deadline_offset_minutes,
    }


def _apply(plan: Plan, values: dict[str, Any]) -> None:
    plan.name = values["name"].strip()
    plan.description = values["description"].strip()
    plan.ticket_type_id = values["ticket_type_id"]
    plan.work_type_id = values["work_type_id"]
    plan.criticality_id = values["criticality_id"]
    plan.executor_ids = list(values["executor_ids"])
    plan.rrule = values["rrule"]
    plan.first_local = values["first_local"]
    plan.lead_minutes = values["lead_minutes"]
    plan.deadline_offset_minutes = values["deadline_offset_minutes"]


def _sync_objects(
    session: Session,
    plan: Plan,
    links: list[PlanObject],
    objects: list[ServiceObject],
    wanted_ids: list[int],
    now: dt.datetime,
) -> list[PlanObject]:
    """Drop removed objects, add new ones (joining now); returns the links that stay."""
    wanted = set(wanted_ids)
    removed = [x.object_id for x in links if x.object_id not in wanted]
    for link in links:
        if link.object_id in removed:
            session.delete(link)
    present = {x.object_id for x in links}
    _add_objects(session, plan, [o for o in objects if o.id not in present and o.id in wanted], now)
    return [x for x in links if x.object_id in wanted]


def pause_plan(session: Session, actor: Actor, plan: Plan, *, now: dt.datetime | None = None) -> Plan:
    """Stops generation. Pausing a paused plan changes nothing."""
    require_manager(actor)
    if plan.state == PlanState.PAUSED:
        return plan
    now = now or utcnow()
    _settle_due(session, plan, now)
    plan.state = PlanState.PAUSED.value
    session.execute(update(PlanObject).where(PlanObject.plan_id == plan.id).values(due_at=None))
    _bump(plan, now)
    session.flush()
    return plan


def resume_plan(session: Session, actor: Actor, plan: Plan, *, now: dt.datetime | None = None) -> Plan:
    """Generation restarts from now: occurrences missed while paused are not back-filled."""
    require_manager(actor)
    if plan.state == PlanState.ACTIVE:
        return plan
    now = now or utcnow()
    links = _links(session, plan)
    plan.state = PlanState.ACTIVE.value
    plan.resumed_at = now
    for link in links:
        link.pending_from = max(link.pending_from, now)
    _refresh_due(session, plan, links)
    _bump(plan, now)
    session.flush()
    return plan


def delete_plan(session: Session, actor: Actor, plan: Plan, *, now: dt.datetime | None = None) -> None:
    """Soft delete: the plan stops and disappears; its tickets and occurrence log stay."""
    require_manager(actor)
    now = now or utcnow()
    _links(session, plan)
    plan.deleted_at = now
    session.execute(update(PlanObject).where(PlanObject.plan_id == plan.id).values(due_at=None))
    _bump(plan, now)
    session.flush()
