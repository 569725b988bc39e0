"""Catalogue reads scoped to the actor's tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.catalogs.models import Criticality, RatingCriterion, TicketType, WorkType
from fixflow.core.errors import NotFound
from fixflow.objects.queries import allows_work_type, get_object_for_actor


def ticket_types_for(session: Session, actor: Actor) -> list[TicketType]:
    return list(
        session.scalars(
            select(TicketType)
            .where(TicketType.tenant_id == actor.tenant_id, TicketType.published.is_(True))
            .order_by(TicketType.name)
        )
    )


def get_ticket_type_for_actor(session: Session, actor: Actor, type_id: int) -> TicketType:
    ticket_type = session.get(TicketType, type_id)
    if ticket_type is None or ticket_type.tenant_id != actor.tenant_id:
        raise NotFound("Ticket type not found")
    return ticket_type


def work_types_for(
    session: Session, actor: Actor, *, object_id: int | None = None, type_id: int | None = None
) -> list[WorkType]:
    """Published work types, narrowed to those both the object and the ticket type allow."""
    rows = list(
        session.scalars(
            select(WorkType)
            .where(WorkType.tenant_id == actor.tenant_id, WorkType.published.is_(True))
            .order_by(WorkType.name)
        )
    )
    if object_id is not None:
        obj = get_object_for_actor(session, actor, object_id)
        rows = [w for w in rows if allows_work_type(obj, w.id)]
    if type_id is not None:
        allowed = get_ticket_type_for_actor(session, actor, type_id).allowed_work_type_ids
        rows = [w for w in rows if allowed is None or w.id in allowed]
    return rows


def criticalities_for(session: Session, actor: Actor) -> list[Criticality]:
    return list(
        session.scalars(
            select(Criticality)
            .where(Criticality.tenant_id == actor.tenant_id)
            .order_by(Criticality.sort_order)
        )
    )


def rating_criteria_for(session: Session, tenant_id: int) -> list[RatingCriterion]:
    return list(
        session.scalars(
            select(RatingCriterion)
            .where(RatingCriterion.tenant_id == tenant_id, RatingCriterion.active.is_(True))
            .order_by(RatingCriterion.sort_order, RatingCriterion.id)
        )
    )
