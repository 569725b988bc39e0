"""Checks of a plan before it is saved (spec/planning-and-fields.md §1). Every problem is collected, so
a form can show them all at once, keyed by the field the client sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.accounts.models import Member
from fixflow.accounts.queries import eligible_executor
from fixflow.catalogs.models import Criticality, TicketType, WorkType
from fixflow.core.errors import ErrorCollector
from fixflow.objects.models import ServiceObject
from fixflow.objects.queries import allows_work_type
from fixflow.planning.recurrence import Recurrence, RecurrenceError, parse_rrule, to_rrule

MAX_OBJECTS = 1000
MAX_EXECUTORS = 50
MAX_MINUTES = 366 * 24 * 60
FIRST_YEARS = (2000, 2200)


def _tenant_row(session: Session, model: Any, row_id: int | None, tenant_id: int) -> Any:
    if row_id is None:
        return None
    row = session.get(model, row_id)
    return row if row is not None and row.tenant_id == tenant_id else None


def rrule_text(value: Recurrence | str, errors: ErrorCollector) -> str | None:
    try:
        return to_rrule(parse_rrule(value) if isinstance(value, str) else value)
    except RecurrenceError as exc:
        errors.add("recurrence", str(exc))
        return None


def first_local_text(value: dt.datetime, errors: ErrorCollector) -> str | None:
    if not isinstance(value, dt.datetime) or value.tzinfo is not None:
        errors.add("first_local", "Give the first occurrence as a local date and time without an offset")
        return None
    if not FIRST_YEARS[0] <= value.year <= FIRST_YEARS[1]:
        errors.add("first_local", "The first occurrence is out of range")
        return None
    return value.replace(microsecond=0).isoformat(timespec="seconds" if value.second else "minutes")


def _check_minutes(errors: ErrorCollector, name: str, value: int) -> None:
    if type(value) is not int or not 0 <= value <= MAX_MINUTES:
        errors.add(name, "Must be a whole number of minutes from 0 to one year")


def _check_executors(session: Session, tenant_id: int, ids: Sequence[int], errors: ErrorCollector) -> None:
    wanted = set(ids)
    if len(wanted) != len(ids) or len(ids) > MAX_EXECUTORS:
        errors.add("executor_ids", "List each executor once, at most 50")
        return
    if not wanted:
        return
    valid = set(
        session.scalars(
            select(Member.id).where(
                Member.id.in_(wanted),
                Member.tenant_id == tenant_id,
                eligible_executor(),
            )
        )
    )
    if valid != wanted:
        errors.add("executor_ids", "Executors must be field employees of this organisation")


def _load_objects(
    session: Session, tenant_id: int, ids: Sequence[int], errors: ErrorCollector
) -> list[ServiceObject]:
    if not ids:
        errors.add("object_ids", "Choose at least one object")
        return []
    if len(set(ids)) != len(ids) or len(ids) > MAX_OBJECTS:
        errors.add("object_ids", "List each object once, at most 1000")
        return []
    rows = {
        o.id: o
        for o in session.scalars(
            select(ServiceObject).where(ServiceObject.id.in_(set(ids)), ServiceObject.tenant_id == tenant_id)
        )
    }
    for index, object_id in enumerate(ids):
        obj = rows.get(object_id)
        if obj is None or obj.deleted_at is not None:
            errors.add(f"object_ids.{index}", "Unknown object")
        elif not obj.published:
            errors.add(f"object_ids.{index}", "This object cannot be used in new tickets")
    return [rows[i] for i in ids if i in rows]


def _check_catalogs(session: Session, tenant_id: int, values: dict[str, Any], errors: ErrorCollector) -> None:
    """The type, work type and criticality exist; the type allows the work type."""
    ticket_type: TicketType | None = _tenant_row(session, TicketType, values["ticket_type_id"], tenant_id)
    if ticket_type is None or not ticket_type.published:
        errors.add("ticket_type_id", "Choose a ticket type")
    work_type: WorkType | None = _tenant_row(session, WorkType, values["work_type_id"], tenant_id)
    if work_type is None or not work_type.published:
        errors.add("work_type_id", "This work type is not available")
    elif (
        ticket_type is not None
        and ticket_type.allowed_work_type_ids is not None
        and work_type.id not in ticket_type.allowed_work_type_ids
    ):
        errors.add("work_type_id", "This work type is not allowed for the ticket type")
    criticality_id = values["criticality_id"]
    if criticality_id is not None and _tenant_row(session, Criticality, criticality_id, tenant_id) is None:
        errors.add("criticality_id", "Unknown criticality")


def validate_values(
    session: Session, tenant_id: int, values: dict[str, Any], changed: set[str]
) -> list[ServiceObject]:
    """Checks the plan as it will be saved; raises ValidationFailed with every problem at once.

    Every object must allow the work type at every save; the other availability checks (published
    catalogues, usable objects, field employees) apply to what this save sets.
    """
    errors = ErrorCollector()
    name = values["name"]
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 300:
        errors.add("name", "Give the plan a name (up to 300 characters)")
    description = values["description"]
    if not isinstance(description, str) or not description.strip() or len(description) > 10_000:
        errors.add("description", "Describe the work")
    if changed & {"ticket_type_id", "work_type_id", "criticality_id"}:
        _check_catalogs(session, tenant_id, values, errors)
    if "executor_ids" in changed:
        _check_executors(session, tenant_id, values["executor_ids"], errors)
    for name_ in ("lead_minutes", "deadline_offset_minutes"):
        if name_ in changed:
            _check_minutes(errors, name_, values[name_])
    if "object_ids" in changed:
        objects = _load_objects(session, tenant_id, values["object_ids"], errors)
    else:
        objects = list(
            session.scalars(select(ServiceObject).where(ServiceObject.id.in_(values["object_ids"])))
        )
    by_id = {o.id: o for o in objects}
    for index, object_id in enumerate(values["object_ids"]):
        obj = by_id.get(object_id)
        if obj is not None and not allows_work_type(obj, values["work_type_id"]):
            errors.add(f"object_ids.{index}", "This object does not allow the plan's work type")
    errors.raise_if_any()
    return objects
