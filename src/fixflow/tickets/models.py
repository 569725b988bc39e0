"""Tickets and what hangs off them: executors, completed works, history, favourites."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from fixflow.core.db import Base, fk, id_column, tenant_fk, utcnow

TICKETS_FILLFACTOR = 90  # percent of a tickets page filled by inserts (migration 0013)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        # Every list is "newest first" on one of these; closed_at IS NULL is an index equality.
        # Customers never see deleted tickets: with deleted_at in the index a branch of their list or
        # counters is read from the index alone (PostgreSQL's index-only scans), not row by row from
        # the table — a customer admin's colleagues branch read 180 pages for 148 ids, now 50.
        Index("ix_tickets_tenant_open", "tenant_id", "closed_at", "id", postgresql_include=["deleted_at"]),
        Index(
            "ix_tickets_initiator_open",
            "tenant_id",
            "initiator_id",
            "closed_at",
            "id",
            postgresql_include=["deleted_at"],
        ),
        Index(
            "ix_tickets_company_open",
            "tenant_id",
            "company_id",
            "closed_at",
            "id",
            postgresql_include=["deleted_at"],
        ),
        # A company's open tickets newest first, in index order: after `closed_at IS NULL` as a
        # condition on the index above, PostgreSQL 15 no longer takes the id order and sorts them all.
        Index(
            "ix_tickets_company_open_ids",
            "tenant_id",
            "company_id",
            "id",
            postgresql_where=text("closed_at IS NULL"),
            sqlite_where=text("closed_at IS NULL"),
            postgresql_include=["deleted_at"],
        ),
        # The same for whoever sees every open ticket (dispatchers): their «all» list and its counter
        # read the tenant's open ids in order from the index alone, however many closed tickets lie
        # between them (on the primary key, backwards, they filtered every closed row they passed).
        Index(
            "ix_tickets_open_ids",
            "tenant_id",
            "id",
            postgresql_where=text("closed_at IS NULL"),
            sqlite_where=text("closed_at IS NULL"),
            postgresql_include=["deleted_at"],
        ),
        # Approval scopes are list branches of their own (tickets.listing), so they get list-shaped indexes.
        Index(
            "ix_tickets_approver_member_open",
            "tenant_id",
            "approver_member_id",
            "closed_at",
            "id",
            postgresql_include=["deleted_at"],
        ),
        Index(
            "ix_tickets_approver_role_open",
            "tenant_id",
            "approver_role_id",
            "closed_at",
            "id",
            postgresql_include=["deleted_at", "company_id"],
        ),
        Index("ix_tickets_object", "tenant_id", "object_id", "id"),
        # Number search is a prefix LIKE; under a non-C collation only a pattern-ops index serves it.
        Index(
            "ix_tickets_tenant_number_pattern",
            "tenant_id",
            "number",
            postgresql_ops={"number": "text_pattern_ops"},
        ).ddl_if(dialect="postgresql"),
        # Room on each page for a transition's new row version beside the old one (a HOT update:
        # no index entries). Migration 0013 says why; no index may hold stage_id or stage_entered_at.
        {"postgresql_with": {"fillfactor": TICKETS_FILLFACTOR}},
    )

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    number: Mapped[str] = mapped_column(String(40))
    type_id: Mapped[int] = fk("ticket_types.id")
    criticality_id: Mapped[int | None] = fk("criticalities.id", nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    company_id: Mapped[int] = fk("companies.id")
    object_id: Mapped[int] = fk("objects.id")
    address: Mapped[str] = mapped_column(String(500), default="")
    work_type_id: Mapped[int | None] = fk("work_types.id", nullable=True)
    initiator_id: Mapped[int] = fk("members.id")
    created_by_id: Mapped[int | None] = fk("members.id", nullable=True)
    approver_member_id: Mapped[int | None] = fk("members.id", nullable=True)
    approver_role_id: Mapped[int | None] = fk("roles.id", nullable=True)
    stage_id: Mapped[int] = fk("stages.id")
    status_id: Mapped[int] = fk("statuses.id")
    deadline: Mapped[dt.datetime | None] = mapped_column()
    deadline_manual: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    stage_entered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column()
    closed_at: Mapped[dt.datetime | None] = mapped_column()
    parent_id: Mapped[int | None] = fk("tickets.id", nullable=True, index=True)
    source: Mapped[str] = mapped_column(String(16), default="api")
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rating_score: Mapped[float | None] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer, default=1)
    deleted_at: Mapped[dt.datetime | None] = mapped_column()

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


class TicketExecutor(Base):
    __tablename__ = "ticket_executors"
    __table_args__ = (
        UniqueConstraint("ticket_id", "member_id"),
        Index("ix_ticket_executors_member_ticket", "member_id", "ticket_id"),
    )

    tenant_id: Mapped[int] = tenant_fk()
    ticket_id: Mapped[int] = fk("tickets.id", ondelete="CASCADE")
    member_id: Mapped[int] = fk("members.id")
    __mapper_args__ = {"primary_key": [ticket_id, member_id]}  # noqa: RUF012


class TicketWork(Base):
    """A completed work entered by an executor."""

    __tablename__ = "ticket_works"

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    ticket_id: Mapped[int] = fk("tickets.id", ondelete="CASCADE", index=True)
    work_type_id: Mapped[int] = fk("work_types.id")
    member_id: Mapped[int] = fk("members.id")
    duration_minutes: Mapped[int] = mapped_column(Integer, default=0)
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3), default=Decimal("1"))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int] = fk("members.id")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TicketHistory(Base):
    """Append-only: nothing ever updates or deletes a row here."""

    __tablename__ = "ticket_history"
    __table_args__ = (Index("ix_ticket_history_ticket", "ticket_id", "id"),)

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    ticket_id: Mapped[int] = fk("tickets.id", ondelete="CASCADE")
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = fk("members.id", nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    field: Mapped[str | None] = mapped_column(String(64))
    old: Mapped[Any] = mapped_column(JSON, nullable=True)
    new: Mapped[Any] = mapped_column(JSON, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text)


class Favorite(Base):
    __tablename__ = "favorites"
    # tenant_id and ticket_deleted included: a count of a member's favourites checks both without
    # reading the table.
    __table_args__ = (
        Index(
            "ix_favorites_member_ticket",
            "member_id",
            "ticket_id",
            unique=True,
            postgresql_include=["tenant_id", "ticket_deleted"],
        ),
    )

    tenant_id: Mapped[int] = tenant_fk()
    member_id: Mapped[int] = fk("members.id", ondelete="CASCADE")
    ticket_id: Mapped[int] = fk("tickets.id", ondelete="CASCADE", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Whether the ticket is deleted, kept by tickets.service (delete_ticket, add_favorite): the
    # favourites counter of staff who see every ticket but the deleted ones reads it from the index
    # instead of checking each favourite against the deleted tickets (queries.favorites_of_everyone).
    ticket_deleted: Mapped[bool] = mapped_column(default=False, server_default=false())
    __mapper_args__ = {"primary_key": [member_id, ticket_id]}  # noqa: RUF012


class IdempotencyRecord(Base):
    """The first response to a create request, replayed when the client retries with the same key."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("tenant_id", "member_id", "key"),)

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    member_id: Mapped[int] = fk("members.id")
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
