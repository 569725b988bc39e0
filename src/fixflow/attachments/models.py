"""Uploaded files: the metadata row; the bytes live in `fixflow.attachments.storage`."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fixflow.core.db import Base, fk, id_column, tenant_fk, utcnow
from fixflow.tickets.models import Ticket

_UNBOUND_SQL = "ticket_id IS NULL AND object_id IS NULL AND company_id IS NULL"


class Attachment(Base):
    """A file uploaded by a member, unbound until attached to one owner (ticket, object or company).

    Visibility follows the owner: an unbound file is its uploader's only. `field_code` is set when the
    file is the value of an additional field, so it is hidden wherever that field is hidden.
    """

    __tablename__ = "attachments"
    __table_args__ = (
        Index("ix_attachments_ticket", "ticket_id", "id"),
        Index("ix_attachments_uploader", "tenant_id", "uploaded_by", "id"),
        # The few files nobody attached yet, oldest first (attachments.sweep), not a walk of them all.
        Index(
            "ix_attachments_unbound",
            "created_at",
            postgresql_where=text(_UNBOUND_SQL),
            sqlite_where=text(_UNBOUND_SQL),
        ),
    )

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    ticket_id: Mapped[int | None] = fk("tickets.id", nullable=True)
    object_id: Mapped[int | None] = fk("objects.id", nullable=True, index=True)
    company_id: Mapped[int | None] = fk("companies.id", nullable=True, index=True)
    field_code: Mapped[str | None] = mapped_column(String(64))
    uploaded_by: Mapped[int] = fk("members.id")
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))  # sniffed from the bytes, never the client's
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    # Lets a file chosen while a ticket is created be bound to it in the same flush (see fields.tasks).
    ticket: Mapped[Ticket | None] = relationship(lazy="raise")

    @property
    def is_bound(self) -> bool:
        return self.ticket_id is not None or self.object_id is not None or self.company_id is not None
