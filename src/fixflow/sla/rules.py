"""Choosing the SLA rule for a ticket (spec/domain.md §7). Pure: no database, no I/O."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fixflow.sla.worktime import WorkSchedule, add_working_time, is_working_time


@dataclass(frozen=True)
class RuleSpec:
    id: int
    minutes: int
    schedule: WorkSchedule
    ticket_type_ids: frozenset[int] | None = None
    criticality_ids: frozenset[int] | None = None
    work_type_ids: frozenset[int] | None = None
    company_ids: frozenset[int] | None = None
    object_ids: frozenset[int] | None = None


@dataclass(frozen=True)
class TicketKey:
    ticket_type_id: int
    criticality_id: int | None
    work_type_id: int | None
    company_id: int
    object_and_ancestor_ids: frozenset[int]


def _admits(allowed: frozenset[int] | None, value: int | None) -> bool:
    return allowed is None or (value is not None and value in allowed)


def matches(rule: RuleSpec, key: TicketKey) -> bool:
    return (
        _admits(rule.ticket_type_ids, key.ticket_type_id)
        and _admits(rule.criticality_ids, key.criticality_id)
        and _admits(rule.work_type_ids, key.work_type_id)
        and _admits(rule.company_ids, key.company_id)
        and (rule.object_ids is None or bool(rule.object_ids & key.object_and_ancestor_ids))
    )


def choose_rule(rules: Iterable[RuleSpec], key: TicketKey, now: dt.datetime) -> RuleSpec | None:
    """Among matching rules prefer one whose schedule covers ``now``, then the shortest time, then id."""
    candidates: Sequence[RuleSpec] = [r for r in rules if matches(r, key)]
    if not candidates:
        return None
    return min(candidates, key=lambda r: (not is_working_time(now, r.schedule), r.minutes, r.id))


def rule_deadline(rule: RuleSpec, created_at: dt.datetime) -> dt.datetime:
    return add_working_time(created_at, dt.timedelta(minutes=rule.minutes), rule.schedule)
