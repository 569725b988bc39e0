"""Tables of the notifications feature."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fixflow.core.db import Base, fk, id_column, utcnow


class SmsMessage(Base):
    """Every SMS the ``outbox`` provider "sends": the development/test gateway and an audit trail."""

    __tablename__ = "sms_messages"

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int | None] = fk("tenants.id", nullable=True, index=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="stored")
