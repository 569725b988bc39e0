"""Managing service schedules and SLA rules (Permission.CONFIG_SLA)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.accounts.permissions import Permission
from fixflow.catalogs.models import Criticality, TicketType, WorkType
from fixflow.core.errors import Conflict, ErrorCollector, Forbidden, NotFound, ValidationFailed
from fixflow.objects.models import ServiceObject
from fixflow.sla.models import ServiceSchedule, SlaRule
from fixflow.sla.worktime import ScheduleError, schedule_from_dict, schedule_to_dict
from fixflow.tenants.models import Company

RULE_LISTS: dict[str, type[Any]] = {
    "ticket_type_ids": TicketType,
    "criticality_ids": Criticality,
    "work_type_ids": WorkType,
    "company_ids": Company,
    "object_ids": ServiceObject,
}


def _require(actor: Actor) -> None:
    if not actor.can(Permission.CONFIG_SLA):
        raise Forbidden("You may not configure SLA rules")


def _normalised_definition(definition: dict[str, Any]) -> dict[str, Any]:
    try:
        schedule = schedule_from_dict(definition)
    except ScheduleError as exc:
        raise ValidationFailed("Invalid schedule: {reason}", reason=str(exc)) from None
    if not schedule.has_working_time:
        raise ValidationFailed("A schedule needs some working time")
    return schedule_to_dict(schedule)


def list_schedules(session: Session, actor: Actor) -> list[ServiceSchedule]:
    _require(actor)
    return list(
        session.scalars(
            select(ServiceSchedule)
            .where(ServiceSchedule.tenant_id == actor.tenant_id)
            .order_by(ServiceSchedule.id)
        )
    )


def get_schedule_for_actor(session: Session, actor: Actor, schedule_id: int) -> ServiceSchedule:
    """404 for another tenant's id, then 403 for members who may not configure SLA rules."""
    schedule = session.get(ServiceSchedule, schedule_id)
    if schedule is None or schedule.tenant_id != actor.tenant_id:
        raise NotFound("Schedule not found")
    _require(actor)
    return schedule


def create_schedule(
    session: Session, actor: Actor, *, name: str, definition: dict[str, Any]
) -> ServiceSchedule:
    _require(actor)
    schedule = ServiceSchedule(
        tenant_id=actor.tenant_id, name=name, definition=_normalised_definition(definition)
    )
    session.add(schedule)
    session.flush()
    return schedule


def update_schedule(
    session: Session,
    actor: Actor,
    schedule: ServiceSchedule,
    *,
    name: str | None,
    definition: dict[str, Any] | None,
) -> ServiceSchedule:
    if name is not None:
        schedule.name = name
    if definition is not None:
        schedule.definition = _normalised_definition(definition)
    session.flush()
    return schedule


def delete_schedule(session: Session, actor: Actor, schedule: ServiceSchedule) -> None:
    if session.scalar(select(exists().where(SlaRule.schedule_id == schedule.id))):
        raise Conflict("The schedule is used by SLA rules")
    session.delete(schedule)
    session.flush()


def list_rules(session: Session, actor: Actor) -> list[SlaRule]:
    _require(actor)
    return list(
        session.scalars(select(SlaRule).where(SlaRule.tenant_id == actor.tenant_id).order_by(SlaRule.id))
    )


def get_rule_for_actor(session: Session, actor: Actor, rule_id: int) -> SlaRule:
    """404 for another tenant's id, then 403 for members who may not configure SLA rules."""
    rule = session.get(SlaRule, rule_id)
    if rule is None or rule.tenant_id != actor.tenant_id:
        raise NotFound("SLA rule not found")
    _require(actor)
    return rule


def _check_rule_values(session: Session, actor: Actor, values: dict[str, Any]) -> None:
    errors = ErrorCollector()
    if "minutes" in values and (values["minutes"] is None or values["minutes"] <= 0):
        errors.add("minutes", "Must be a positive number of minutes")
    if "schedule_id" in values:
        schedule = session.get(ServiceSchedule, values["schedule_id"])
        if schedule is None or schedule.tenant_id != actor.tenant_id:
            errors.add("schedule_id", "Unknown schedule")
    for name, model in RULE_LISTS.items():
        ids = values.get(name)
        if ids is None:
            continue
        if not ids:
            errors.add(name, "Give at least one value, or null for any")
            continue
        found = set(
            session.scalars(select(model.id).where(model.id.in_(ids), model.tenant_id == actor.tenant_id))
        )
        if found != set(ids):
            errors.add(name, "Unknown id in the list")
    errors.raise_if_any()


def create_rule(session: Session, actor: Actor, values: dict[str, Any]) -> SlaRule:
    _require(actor)
    _check_rule_values(session, actor, values)
    rule = SlaRule(tenant_id=actor.tenant_id, **values)
    session.add(rule)
    session.flush()
    return rule


def update_rule(session: Session, actor: Actor, rule: SlaRule, values: dict[str, Any]) -> SlaRule:
    _check_rule_values(session, actor, values)
    for name, value in values.items():
        setattr(rule, name, value)
    session.flush()
    return rule


def delete_rule(session: Session, actor: Actor, rule: SlaRule) -> None:
    session.delete(rule)
    session.flush()
