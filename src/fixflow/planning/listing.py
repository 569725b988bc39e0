"""Lists of plans for staff: keyset pages, with each page's objects and next occurrence in two queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.core.errors import Forbidden, ValidationFailed
from fixflow.core.pagination import Page, check_limit, decode_cursor, encode_cursor
from fixflow.planning.models import Plan, PlanObject, PlanState


def list_plans(
    session: Session,
    actor: Actor,
    *,
    state: str | None = None,
    object_id: int | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[Plan]:
    """Live plans of the tenant, newest first, keyset-paged (staff only)."""
    if not actor.is_staff:
        raise Forbidden("Only staff may see plans")
    size = check_limit(limit)
    stmt = select(Plan).where(Plan.tenant_id == actor.tenant_id, Plan.deleted_at.is_(None))
    if state is not None:
        if state not in (PlanState.ACTIVE, PlanState.PAUSED):
            raise ValidationFailed("state must be active or paused")
        stmt = stmt.where(Plan.state == state)
    if object_id is not None:
        stmt = stmt.where(
            Plan.id.in_(
                select(PlanObject.plan_id).where(
                    PlanObject.tenant_id == actor.tenant_id, PlanObject.object_id == object_id
                )
            )
        )
    if cursor:
        (last_id,) = decode_cursor(cursor, arity=1, kinds=(int,))
        if not isinstance(last_id, int):
            raise ValidationFailed("The cursor is not valid")
        stmt = stmt.where(Plan.id < last_id)
    rows = list(session.scalars(stmt.order_by(Plan.id.desc()).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return Page(items=rows, next_cursor=encode_cursor([rows[-1].id]) if more and rows else None)


@dataclass(frozen=True)
class PlanSummary:
    object_ids: list[int]
    next_occurrence_at: dt.datetime | None


def plan_summaries(session: Session, plans: Sequence[Plan]) -> dict[int, PlanSummary]:
    """Objects and the next occurrence of each plan in two queries (the next due moment plus lead)."""
    ids = [p.id for p in plans]
    objects: dict[int, list[int]] = {i: [] for i in ids}
    for plan_id, object_id in session.execute(
        select(PlanObject.plan_id, PlanObject.object_id)
        .where(PlanObject.plan_id.in_(ids))
        .order_by(PlanObject.object_id)
    ):
        objects[plan_id].append(object_id)
    earliest = dict(
        session.execute(
            select(PlanObject.plan_id, func.min(PlanObject.due_at))
            .where(PlanObject.plan_id.in_(ids))
            .group_by(PlanObject.plan_id)
        ).all()
    )
    out: dict[int, PlanSummary] = {}
    for plan in plans:
        due = earliest.get(plan.id)
        if due is not None and due.tzinfo is None:
            due = due.replace(tzinfo=dt.UTC)  # min() over a UTC column loses the type on SQLite
        nxt = due + dt.timedelta(minutes=plan.lead_minutes) if due is not None else None
        out[plan.id] = PlanSummary(objects[plan.id], nxt)
    return out
