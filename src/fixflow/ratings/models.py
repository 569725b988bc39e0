"""Per-rater ratings of a ticket, one row per rater, replaced on re-rating."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Float, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fixflow.core.db import Base, fk, id_column, tenant_fk, utcnow


class Rating(Base):
    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("ticket_id", "rater_id"),)

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    ticket_id: Mapped[int] = fk("tickets.id", ondelete="CASCADE")
    rater_id: Mapped[int] = fk("members.id")
    scores: Mapped[dict[str, int]] = mapped_column(JSON)  # criterion id (str) -> 1..5
    score: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
