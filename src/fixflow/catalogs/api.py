"""Read-only catalogue endpoints used by ticket forms."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Depends

from fixflow.catalogs.queries import criticalities_for, rating_criteria_for, ticket_types_for, work_types_for
from fixflow.core.http import CurrentActor, DbSession, reject_unknown_query
from fixflow.core.schemas import Output

router = APIRouter(tags=["catalogs"], dependencies=[Depends(reject_unknown_query)])


class TicketTypeOut(Output):
    id: int
    name: str
    number_mask: str
    closing_minutes: int
    allowed_work_type_ids: list[int] | None


class WorkTypeOut(Output):
    id: int
    name: str
    closing_minutes: int
    price: Decimal
    normal_hours: float


class CriticalityOut(Output):
    id: int
    name: str
    color: str
    sort_order: int
    is_default: bool


class CriterionOut(Output):
    id: int
    name: str
    weight: float


@router.get("/ticket-types", response_model=list[TicketTypeOut])
def ticket_types(session: DbSession, actor: CurrentActor) -> list[TicketTypeOut]:
    return [TicketTypeOut.model_validate(r) for r in ticket_types_for(session, actor)]


@router.get("/work-types", response_model=list[WorkTypeOut])
def work_types(
    session: DbSession, actor: CurrentActor, object_id: int | None = None, type_id: int | None = None
) -> list[WorkTypeOut]:
    rows = work_types_for(session, actor, object_id=object_id, type_id=type_id)
    return [WorkTypeOut.model_validate(r) for r in rows]


@router.get("/criticalities", response_model=list[CriticalityOut])
def criticalities(session: DbSession, actor: CurrentActor) -> list[CriticalityOut]:
    return [CriticalityOut.model_validate(r) for r in criticalities_for(session, actor)]


@router.get("/rating-criteria", response_model=list[CriterionOut])
def rating_criteria(session: DbSession, actor: CurrentActor) -> list[CriterionOut]:
    return [CriterionOut.model_validate(r) for r in rating_criteria_for(session, actor.tenant_id)]
