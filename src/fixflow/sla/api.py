"""SLA configuration API: service schedules and rules (owner/admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from fixflow.core.http import CurrentActor, DbSession, reject_unknown_query
from fixflow.core.schemas import Input, Output
from fixflow.sla import service

router = APIRouter(prefix="/sla", tags=["sla"], dependencies=[Depends(reject_unknown_query)])


class ScheduleIn(Input):
    name: str = Field(min_length=1, max_length=200)
    definition: dict[str, Any]


class SchedulePatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    definition: dict[str, Any] | None = None


class ScheduleOut(Output):
    id: int
    name: str
    definition: dict[str, Any]


class RuleIn(Input):
    name: str = Field(min_length=1, max_length=200)
    schedule_id: int
    minutes: int = Field(gt=0, le=10_000_000)
    ticket_type_ids: list[int] | None = None
    criticality_ids: list[int] | None = None
    work_type_ids: list[int] | None = None
    company_ids: list[int] | None = None
    object_ids: list[int] | None = None
    active: bool = True


class RulePatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    schedule_id: int | None = None
    minutes: int | None = Field(default=None, gt=0, le=10_000_000)
    ticket_type_ids: list[int] | None = None
    criticality_ids: list[int] | None = None
    work_type_ids: list[int] | None = None
    company_ids: list[int] | None = None
    object_ids: list[int] | None = None
    active: bool | None = None


class RuleOut(Output):
    id: int
    name: str
    schedule_id: int
    minutes: int
    ticket_type_ids: list[int] | None
    criticality_ids: list[int] | None
    work_type_ids: list[int] | None
    company_ids: list[int] | None
    object_ids: list[int] | None
    active: bool


@router.get("/schedules", response_model=list[ScheduleOut])
def list_schedules(session: DbSession, actor: CurrentActor) -> list[ScheduleOut]:
    return [ScheduleOut.model_validate(s) for s in service.list_schedules(session, actor)]


@router.post("/schedules", response_model=ScheduleOut, status_code=201)
def create_schedule(body: ScheduleIn, session: DbSession, actor: CurrentActor) -> ScheduleOut:
    return ScheduleOut.model_validate(
        service.create_schedule(session, actor, name=body.name, definition=body.definition)
    )


@router.patch("/schedules/{schedule_id}", response_model=ScheduleOut)
def patch_schedule(
    schedule_id: int, body: SchedulePatch, session: DbSession, actor: CurrentActor
) -> ScheduleOut:
    schedule = service.get_schedule_for_actor(session, actor, schedule_id)
    service.update_schedule(session, actor, schedule, name=body.name, definition=body.definition)
    return ScheduleOut.model_validate(schedule)


@router.delete("/schedules/{schedule_id}", status_code=204)
def delete_schedule(schedule_id: int, session: DbSession, actor: CurrentActor) -> Response:
    service.delete_schedule(session, actor, service.get_schedule_for_actor(session, actor, schedule_id))
    return Response(status_code=204)


@router.get("/rules", response_model=list[RuleOut])
def list_rules(session: DbSession, actor: CurrentActor) -> list[RuleOut]:
    return [RuleOut.model_validate(r) for r in service.list_rules(session, actor)]


@router.post("/rules", response_model=RuleOut, status_code=201)
def create_rule(body: RuleIn, session: DbSession, actor: CurrentActor) -> RuleOut:
    return RuleOut.model_validate(service.create_rule(session, actor, body.model_dump()))


@router.patch("/rules/{rule_id}", response_model=RuleOut)
def patch_rule(rule_id: int, body: RulePatch, session: DbSession, actor: CurrentActor) -> RuleOut:
    rule = service.get_rule_for_actor(session, actor, rule_id)
    return RuleOut.model_validate(
        service.update_rule(session, actor, rule, body.model_dump(exclude_unset=True))
    )


@router.delete("/rules/{rule_id}", status_code=204)
def delete_rule(rule_id: int, session: DbSession, actor: CurrentActor) -> Response:
    service.delete_rule(session, actor, service.get_rule_for_actor(session, actor, rule_id))
    return Response(status_code=204)
