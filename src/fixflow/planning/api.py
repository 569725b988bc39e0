"""REST endpoints for plans (staff) and planned work on an object (staff and customers)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.accounts.models import Member
from fixflow.catalogs.models import Criticality, TicketType, WorkType
from fixflow.core.db import utcnow
from fixflow.core.errors import FieldProblem, ValidationFailed
from fixflow.core.http import CurrentActor, DbSession, JSONResponse, reject_unknown_query
from fixflow.core.idempotency import create_once
from fixflow.core.schemas import RefOut
from fixflow.objects.models import ServiceObject
from fixflow.objects.queries import load_ancestors, path_names
from fixflow.planning import schemas
from fixflow.planning.models import Plan
from fixflow.planning.queries import (
    PlannedItem,
    get_plan_for_actor,
    object_planned,
    object_zones,
    plan_occurrences,
    recent_skips,
    tenant_timezone,
)
from fixflow.planning.recurrence import Recurrence, RecurrenceError
from fixflow.planning.service import (
    PlanDraft,
    create_plan,
    delete_plan,
    list_plans,
    pause_plan,
    plan_summaries,
    require_manager,
    resume_plan,
    update_plan,
)

router = APIRouter(tags=["plans"], dependencies=[Depends(reject_unknown_query)])

PLAN_WINDOW = dt.timedelta(days=31)
OBJECT_WINDOW = dt.timedelta(days=60)
From = Annotated[dt.datetime | None, Query(alias="from", description="ISO 8601 with offset; default now")]
To = Annotated[dt.datetime | None, Query(description="ISO 8601 with offset, exclusive")]


def _recurrence(form: schemas.RecurrenceForm) -> Recurrence:
    try:
        return form.to_recurrence()
    except RecurrenceError as exc:
        raise ValidationFailed("Invalid input", errors=[FieldProblem("recurrence", str(exc))]) from None


def _names(session: Session, model: Any, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}


def _ref(row: Any) -> RefOut:
    return RefOut(id=row.id, name=row.name, color=getattr(row, "color", None))


def _person(member: Member | None, member_id: int) -> RefOut:
    return RefOut(id=member_id, name=member.display_name if member is not None else f"#{member_id}")


def plan_out(session: Session, plan: Plan) -> dict[str, Any]:
    summary = plan_summaries(session, [plan])[plan.id]
    objects = _names(session, ServiceObject, set(summary.object_ids))
    ancestors = load_ancestors(session, objects.values())
    zones = object_zones(objects.values(), ancestors, tenant_timezone(session, plan.tenant_id))
    members = _names(session, Member, {plan.author_id, *plan.executor_ids})
    criticality = session.get(Criticality, plan.criticality_id) if plan.criticality_id else None
    out = schemas.PlanOut(
        id=plan.id,
        name=plan.name,
        state=plan.state,
        ticket_type=_ref(session.get(TicketType, plan.ticket_type_id)),
        work_type=_ref(session.get(WorkType, plan.work_type_id)),
        criticality=_ref(criticality) if criticality is not None else None,
        description=plan.description,
        objects=[
            schemas.PlanObjectOut(id=o.id, name=o.name, path=path_names(o, ancestors), timezone=zones[o.id])
            for o in (objects[i] for i in summary.object_ids if i in objects)
        ],
        executors=[_person(members.get(m), m) for m in plan.executor_ids],
        recurrence=schemas.RecurrenceOut.from_rrule(plan.rrule),
        rrule=plan.rrule,
        first_local=plan.first_local,
        lead_minutes=plan.lead_minutes,
        deadline_offset_minutes=plan.deadline_offset_minutes,
        author=_person(members.get(plan.author_id), plan.author_id),
        next_occurrence_at=summary.next_occurrence_at,
        recent_skips=[
            schemas.SkipOut(object_id=r.object_id, occurrence_at=r.occurrence_at, reason=r.reason)
            for r in recent_skips(session, plan)
        ],
        created_at=plan.created_at,
        updated_at=plan.updated_at,
        resumed_at=plan.resumed_at,
        version=plan.version,
    )
    return out.model_dump(mode="json")


@router.post("/plans", response_model=schemas.PlanOut, status_code=201)
def create_plan_endpoint(
    request: Request,
    body: schemas.PlanCreate,
    session: DbSession,
    actor: CurrentActor,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    require_manager(actor)

    def create() -> dict[str, Any]:
        draft = PlanDraft(
            name=body.name,
            ticket_type_id=body.ticket_type_id,
            work_type_id=body.work_type_id,
            object_ids=body.object_ids,
            description=body.description,
            recurrence=_recurrence(body.recurrence),
            first_local=body.first_local,
            criticality_id=body.criticality_id,
            executor_ids=body.executor_ids,
            lead_minutes=body.lead_minutes,
            deadline_offset_minutes=body.deadline_offset_minutes,
            state=body.state,
        )
        return plan_out(session, create_plan(session, actor, draft))

    status, payload = create_once(
        session, actor, idempotency_key, path="/plans", body=body.model_dump(mode="json"), create=create
    )
    return JSONResponse(payload, status_code=status)


@router.get("/plans", response_model=schemas.PlanPage)
def list_plans_endpoint(
    session: DbSession,
    actor: CurrentActor,
    state: Annotated[str | None, Query(pattern="^(active|paused)$")] = None,
    object_id: int | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> schemas.PlanPage:
    page = list_plans(session, actor, state=state, object_id=object_id, limit=limit, cursor=cursor)
    summaries = plan_summaries(session, page.items)
    return schemas.PlanPage(
        items=[
            schemas.PlanCardOut(
                id=p.id,
                name=p.name,
                state=p.state,
                ticket_type_id=p.ticket_type_id,
                work_type_id=p.work_type_id,
                object_ids=summaries[p.id].object_ids,
                recurrence=schemas.RecurrenceOut.from_rrule(p.rrule),
                rrule=p.rrule,
                first_local=p.first_local,
                lead_minutes=p.lead_minutes,
                next_occurrence_at=summaries[p.id].next_occurrence_at,
                version=p.version,
            )
            for p in page.items
        ],
        next_cursor=page.next_cursor,
    )


@router.get("/plans/{plan_id}", response_model=schemas.PlanOut)
def get_plan(plan_id: int, session: DbSession, actor: CurrentActor) -> Response:
    return JSONResponse(plan_out(session, get_plan_for_actor(session, actor, plan_id)))


@router.patch("/plans/{plan_id}", response_model=schemas.PlanOut)
def patch_plan(plan_id: int, body: schemas.PlanUpdate, session: DbSession, actor: CurrentActor) -> Response:
    plan = get_plan_for_actor(session, actor, plan_id, for_update=True)
    changes: dict[str, Any] = {name: getattr(body, name) for name in body.model_fields_set - {"version"}}
    if body.recurrence is not None:
        changes["recurrence"] = _recurrence(body.recurrence)
    update_plan(session, actor, plan, version=body.version, changes=changes)
    return JSONResponse(plan_out(session, plan))


@router.delete("/plans/{plan_id}", status_code=204)
def delete_plan_endpoint(plan_id: int, session: DbSession, actor: CurrentActor) -> Response:
    delete_plan(session, actor, get_plan_for_actor(session, actor, plan_id, for_update=True))
    return Response(status_code=204)


@router.post("/plans/{plan_id}/pause", response_model=schemas.PlanOut)
def pause_plan_endpoint(plan_id: int, session: DbSession, actor: CurrentActor) -> Response:
    plan = pause_plan(session, actor, get_plan_for_actor(session, actor, plan_id, for_update=True))
    return JSONResponse(plan_out(session, plan))


@router.post("/plans/{plan_id}/resume", response_model=schemas.PlanOut)
def resume_plan_endpoint(plan_id: int, session: DbSession, actor: CurrentActor) -> Response:
    plan = resume_plan(session, actor, get_plan_for_actor(session, actor, plan_id, for_update=True))
    return JSONResponse(plan_out(session, plan))


def _window(
    start: dt.datetime | None, end: dt.datetime | None, default: dt.timedelta
) -> tuple[dt.datetime, dt.datetime]:
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed("{name} needs a timezone offset", name=name)
    start = start or utcnow()
    return start, end or start + default


def _occurrences_out(actor: Actor, items: list[PlannedItem]) -> schemas.OccurrenceList:
    return schemas.OccurrenceList(
        items=[
            schemas.OccurrenceOut(
                plan=RefOut(id=i.plan_id, name=i.plan_name),
                work_type=RefOut(id=i.work_type_id, name=i.work_type_name),
                object=RefOut(id=i.object_id, name=i.object_name),
                object_path=i.object_path,
                timezone=i.timezone,
                at=i.at,
                local_at=i.local_at,
                status=i.status,
                # Customers learn that the work is planned, not which ticket ids exist.
                ticket_id=i.ticket_id if actor.is_staff else None,
                reason=i.reason if actor.is_staff else None,
            )
            for i in items
        ]
    )


@router.get("/plans/{plan_id}/occurrences", response_model=schemas.OccurrenceList)
def get_plan_occurrences(
    plan_id: int,
    session: DbSession,
    actor: CurrentActor,
    from_: From = None,
    to: To = None,
    limit: int | None = None,
) -> schemas.OccurrenceList:
    """Computed from the rule before any ticket exists, per object in its own time zone."""
    start, end = _window(from_, to, PLAN_WINDOW)
    return _occurrences_out(actor, plan_occurrences(session, actor, plan_id, start, end, limit))


@router.get("/objects/{object_id}/planned", response_model=schemas.OccurrenceList)
def get_object_planned(
    object_id: int,
    session: DbSession,
    actor: CurrentActor,
    from_: From = None,
    to: To = None,
    limit: int | None = None,
) -> schemas.OccurrenceList:
    """Planned work on an object; customers see their companies' objects only (404 otherwise)."""
    start, end = _window(from_, to, OBJECT_WINDOW)
    return _occurrences_out(actor, object_planned(session, actor, object_id, start, end, limit))
