"""Plans of routine maintenance, their objects and the occurrences already materialised.

Scheduling state lives on `PlanObject`, one row per object of a plan, because every object has its own
time zone and so its own instants:
- ``pending_from`` (UTC, inclusive): occurrences before it are settled — generated, skipped, or never to
  be generated (before the plan or the object joined it, while the plan was paused, under an old rule).
  Generation only ever moves it forward, past each occurrence it has written a row for.
- ``due_at`` (UTC): when the next occurrence at or after ``pending_from`` must be materialised
  (occurrence − lead time); NULL when the series has ended or the plan is paused or deleted. It is the
  generator's index: a run reads only the rows that are due, never the plan's history.

`PlanOccurrence` is the record of what happened to one (plan, object, occurrence). Its unique key makes
generation idempotent: the row is inserted first (ON CONFLICT DO NOTHING) in the same transaction as the
ticket, so a rerun, a second worker or a crash can neither duplicate nor lose an occurrence. Skipped
occurrences (object deleted, unpublished, work type no longer allowed, …) are rows with status
``skipped`` and a reason: the skip log of the plan.

``Plan.first_local`` is the first occurrence as a naive local wall-clock time, stored as ISO text
``YYYY-MM-DDTHH:MM[:SS]`` (no offset): it is read in each object's own time zone.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fixflow.core.db import Base, BigId, fk, id_column, tenant_fk, utcnow


class PlanState(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class OccurrenceStatus(enum.StrEnum):
    GENERATED = "generated"
    SKIPPED = "skipped"


class SkipReason(enum.StrEnum):
    OBJECT_DELETED = "object_deleted"
    OBJECT_UNPUBLISHED = "object_unpublished"
    WORK_TYPE_NOT_ALLOWED = "work_type_not_allowed"
    WORK_TYPE_UNAVAILABLE = "work_type_unavailable"
    TICKET_TYPE_UNAVAILABLE = "ticket_type_unavailable"
    AUTHOR_UNAVAILABLE = "author_unavailable"
    FIELDS_INVALID = "fields_invalid"


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (Index("ix_plans_tenant_id", "tenant_id", "id"),)

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    name: Mapped[str] = mapped_column(String(300))
    ticket_type_id: Mapped[int] = fk("ticket_types.id")
    work_type_id: Mapped[int] = fk("work_types.id")
    description: Mapped[str] = mapped_column(Text, default="")
    criticality_id: Mapped[int | None] = fk("criticalities.id", nullable=True)
    executor_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    rrule: Mapped[str] = mapped_column(String(500))
    first_local: Mapped[str] = mapped_column(String(19))
    lead_minutes: Mapped[int] = mapped_column(Integer, default=0)
    deadline_offset_minutes: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default=PlanState.ACTIVE.value)
    author_id: Mapped[int] = fk("members.id")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resumed_at: Mapped[dt.datetime | None] = mapped_column()
    deleted_at: Mapped[dt.datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(Integer, default=1)

    @property
    def first_local_dt(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.first_local)

    @property
    def is_active(self) -> bool:
        return self.state == PlanState.ACTIVE and self.deleted_at is None


class PlanObject(Base):
    __tablename__ = "plan_objects"
    __table_args__ = (
        Index("ix_plan_objects_tenant_object", "tenant_id", "object_id"),
        # The worker claims across tenants by due_at; a manual run for one tenant uses the second.
        Index("ix_plan_objects_due", "due_at"),
        Index("ix_plan_objects_tenant_due", "tenant_id", "due_at"),
    )

    tenant_id: Mapped[int] = tenant_fk()
    plan_id: Mapped[int] = mapped_column(BigId, ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True)
    object_id: Mapped[int] = mapped_column(BigId, ForeignKey("objects.id"), primary_key=True)
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    pending_from: Mapped[dt.datetime] = mapped_column()
    due_at: Mapped[dt.datetime | None] = mapped_column()


class PlanOccurrence(Base):
    __tablename__ = "plan_occurrences"
    __table_args__ = (
        # tenant_id leads every unique key (spec/domain.md §1); plan_id alone implies the tenant.
        UniqueConstraint("tenant_id", "plan_id", "object_id", "occurrence_at"),
        Index("ix_plan_occurrences_plan_status", "plan_id", "status", "id"),
        # Which plan made a ticket; also what keeps the deferred foreign-key check cheap on SQLite,
        # which looks up the child rows of every inserted ticket while a violation is pending.
        Index("ix_plan_occurrences_ticket", "ticket_id"),
    )

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    plan_id: Mapped[int] = fk("plans.id", ondelete="CASCADE")
    object_id: Mapped[int] = fk("objects.id")
    occurrence_at: Mapped[dt.datetime] = mapped_column()
    # Deferred: generation writes this row (with its ticket's id) before the ticket itself.
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="SET NULL", deferrable=True, initially="DEFERRED")
    )
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
