"""API schemas for plans and planned work (separate from the ORM models)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator

from fixflow.core.schemas import Input, Output, RefOut
from fixflow.planning.recurrence import Recurrence, RecurrenceError, parse_rrule

MAX_MINUTES = 366 * 24 * 60


class RecurrenceForm(Input):
    """The simple form: every N days; every N weeks on weekdays (0 = Monday … 6 = Sunday); every N months
    on ``day`` D, on the ``nth`` (1–4, -1 = last) ``weekday``, or on the last day; every N years on
    ``month``/``day``. End after ``count`` occurrences or on ``until`` (a local date, inclusive), or never."""

    freq: Literal["daily", "weekly", "monthly", "yearly"]
    interval: int = 1
    weekdays: list[int] | None = None
    monthly_mode: Literal["day", "nth_weekday", "last_day"] | None = None
    day: int | None = None
    nth: int | None = None
    weekday: int | None = None
    month: int | None = None
    count: int | None = None
    until: dt.date | None = None

    def to_recurrence(self) -> Recurrence:
        """Raises RecurrenceError with a message meant for the user."""
        return Recurrence(
            freq=self.freq,
            interval=self.interval,
            weekdays=tuple(self.weekdays or ()),
            monthly_mode=self.monthly_mode,
            day=self.day,
            nth=self.nth,
            weekday=self.weekday,
            month=self.month,
            count=self.count,
            until=self.until,
        )


class RecurrenceOut(Output):
    freq: str
    interval: int
    weekdays: list[int] | None
    monthly_mode: str | None
    day: int | None
    nth: int | None
    weekday: int | None
    month: int | None
    count: int | None
    until: dt.date | None

    @classmethod
    def from_rrule(cls, text: str) -> RecurrenceOut:
        try:
            rec = parse_rrule(text)
        except RecurrenceError:  # stored rules are validated; this only guards against hand edits
            return cls(
                freq="unknown", interval=1, weekdays=None, monthly_mode=None, day=None, nth=None,
                weekday=None, month=None, count=None, until=None,
            )  # fmt: skip
        return cls(
            freq=rec.freq,
            interval=rec.interval,
            weekdays=list(rec.weekdays) if rec.freq == "weekly" else None,
            monthly_mode=rec.monthly_mode,
            day=rec.day,
            nth=rec.nth,
            weekday=rec.weekday,
            month=rec.month,
            count=rec.count,
            until=rec.until,
        )


def _naive(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        raise ValueError("first_local is a local wall-clock time: give it without an offset")
    return value


class PlanCreate(Input):
    name: str = Field(min_length=1, max_length=300)
    ticket_type_id: int
    work_type_id: int
    object_ids: list[int] = Field(min_length=1, max_length=1000)
    description: str = Field(min_length=1, max_length=10_000)
    criticality_id: int | None = None
    executor_ids: list[int] = Field(default_factory=list, max_length=50)
    recurrence: RecurrenceForm
    first_local: dt.datetime = Field(description="first occurrence, local wall-clock time without offset")
    lead_minutes: int = Field(default=0, ge=0, le=MAX_MINUTES)
    deadline_offset_minutes: int = Field(default=0, ge=0, le=MAX_MINUTES)
    state: Literal["active", "paused"] = "active"

    @field_validator("first_local")
    @classmethod
    def _check_first(cls, value: dt.datetime) -> dt.datetime:
        return _naive(value)


class PlanUpdate(Input):
    version: int
    name: str | None = Field(default=None, min_length=1, max_length=300)
    ticket_type_id: int | None = None
    work_type_id: int | None = None
    object_ids: list[int] | None = Field(default=None, min_length=1, max_length=1000)
    description: str | None = Field(default=None, min_length=1, max_length=10_000)
    criticality_id: int | None = None
    executor_ids: list[int] | None = Field(default=None, max_length=50)
    recurrence: RecurrenceForm | None = None
    first_local: dt.datetime | None = None
    lead_minutes: int | None = Field(default=None, ge=0, le=MAX_MINUTES)
    deadline_offset_minutes: int | None = Field(default=None, ge=0, le=MAX_MINUTES)

    @field_validator("first_local")
    @classmethod
    def _check_first(cls, value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else _naive(value)


class PlanObjectOut(Output):
    id: int
    name: str
    path: list[str]
    timezone: str


class SkipOut(Output):
    object_id: int
    occurrence_at: dt.datetime
    reason: str | None


class PlanOut(Output):
    id: int
    name: str
    state: str
    ticket_type: RefOut
    work_type: RefOut
    criticality: RefOut | None
    description: str
    objects: list[PlanObjectOut]
    executors: list[RefOut]
    recurrence: RecurrenceOut
    rrule: str
    first_local: str
    lead_minutes: int
    deadline_offset_minutes: int
    author: RefOut
    next_occurrence_at: dt.datetime | None
    recent_skips: list[SkipOut]
    created_at: dt.datetime
    updated_at: dt.datetime
    resumed_at: dt.datetime | None
    version: int


class PlanCardOut(Output):
    id: int
    name: str
    state: str
    ticket_type_id: int
    work_type_id: int
    object_ids: list[int]
    recurrence: RecurrenceOut
    rrule: str
    first_local: str
    lead_minutes: int
    next_occurrence_at: dt.datetime | None
    version: int


class PlanPage(Output):
    items: list[PlanCardOut]
    next_cursor: str | None


class OccurrenceOut(Output):
    plan: RefOut
    work_type: RefOut
    object: RefOut
    object_path: list[str]
    timezone: str
    at: dt.datetime
    local_at: dt.datetime
    status: str
    ticket_id: int | None
    reason: str | None


class OccurrenceList(Output):
    items: list[OccurrenceOut]
