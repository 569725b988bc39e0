"""Deadline of a new ticket (spec/domain.md §7).

SLA rules matching the ticket's type, criticality, work type, customer company and object decide; the
time is counted in the working time of the chosen rule's schedule. With no rule: created + min(type
closing time, work-type closing time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.catalogs.models import TicketType, WorkType
from fixflow.core.configcache import config_cached
from fixflow.objects.models import ServiceObject
from fixflow.sla.models import ServiceSchedule, SlaRule
from fixflow.sla.rules import RuleSpec, TicketKey, choose_rule, rule_deadline
from fixflow.sla.worktime import schedule_from_dict


def fallback_deadline(
    created_at: dt.datetime, ticket_type: TicketType, work_type: WorkType | None
) -> dt.datetime:
    minutes = ticket_type.closing_minutes
    if work_type is not None:
        minutes = min(minutes, work_type.closing_minutes)
    return created_at + dt.timedelta(minutes=minutes)


def _ids(values: list[int] | None) -> frozenset[int] | None:
    return frozenset(values) if values is not None else None


def load_rules(session: Session, tenant_id: int) -> tuple[RuleSpec, ...]:
    """The tenant's active SLA rules, read once per configuration version (``core.configcache``):
    every ticket creation needs them, and they change only when an admin edits rules or schedules."""
    return config_cached(session, tenant_id, "sla_rules", lambda: _read_rules(session, tenant_id))


def _read_rules(session: Session, tenant_id: int) -> tuple[RuleSpec, ...]:
    rows = session.execute(
        select(SlaRule, ServiceSchedule.definition)
        .join(ServiceSchedule, ServiceSchedule.id == SlaRule.schedule_id)
        .where(SlaRule.tenant_id == tenant_id, SlaRule.active.is_(True))
    ).all()
    return tuple(
        RuleSpec(
            id=rule.id,
            minutes=rule.minutes,
            schedule=schedule_from_dict(definition),
            ticket_type_ids=_ids(rule.ticket_type_ids),
            criticality_ids=_ids(rule.criticality_ids),
            work_type_ids=_ids(rule.work_type_ids),
            company_ids=_ids(rule.company_ids),
            object_ids=_ids(rule.object_ids),
        )
        for rule, definition in rows
    )


def compute_deadline(
    session: Session,
    *,
    created_at: dt.datetime,
    ticket_type: TicketType,
    work_type: WorkType | None,
    criticality_id: int | None,
    company_id: int,
    object_id: int,
    rules: Sequence[RuleSpec] | None = None,
) -> dt.datetime:
    """``rules`` may be passed by callers that compute many deadlines at once (planned tickets)."""
    rules = load_rules(session, ticket_type.tenant_id) if rules is None else rules
    if rules:
        obj = session.get(ServiceObject, object_id)
        lineage = frozenset([object_id, *(obj.ancestor_ids if obj else [])])
        key = TicketKey(
            ticket_type_id=ticket_type.id,
            criticality_id=criticality_id,
            work_type_id=work_type.id if work_type else None,
            company_id=company_id,
            object_and_ancestor_ids=lineage,
        )
        rule = choose_rule(rules, key, created_at)
        if rule is not None:
            return rule_deadline(rule, created_at)
    return fallback_deadline(created_at, ticket_type, work_type)
