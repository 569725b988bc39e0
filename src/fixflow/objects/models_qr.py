"""QR codes stuck on objects: an unguessable token bound to a ticket template (domain §3)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fixflow.core.db import Base, fk, id_column, tenant_fk, utcnow


class ObjectQrCode(Base):
    __tablename__ = "object_qr_codes"
    __table_args__ = (
        # tenant_id leads every unique key (shardable by tenant); the token alone is unique in
        # practice: 144 random bits.
        UniqueConstraint("tenant_id", "token"),
        Index("ix_object_qr_codes_object", "tenant_id", "object_id", "id"),
    )

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    object_id: Mapped[int] = fk("objects.id", ondelete="CASCADE")
    # Stored in clear: it is printed on a sticker anyway, and scanning it grants nothing by itself —
    # the scanner must be logged in and allowed to see the object.
    token: Mapped[str] = mapped_column(String(64))
    ticket_type_id: Mapped[int | None] = fk("ticket_types.id", nullable=True)
    work_type_id: Mapped[int | None] = fk("work_types.id", nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
