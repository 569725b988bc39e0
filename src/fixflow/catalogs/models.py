"""Catalogues: ticket types, work types, criticalities, rating criteria."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import JSON, Boolean, Float, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fixflow.core.configcache import TenantConfiguration
from fixflow.core.db import Base, fk, id_column, tenant_fk


class TicketType(TenantConfiguration, Base):
    __tablename__ = "ticket_types"

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    name: Mapped[str] = mapped_column(String(200))
    number_mask: Mapped[str] = mapped_column(String(64), default="{YY}{MM}-{####}")
    closing_minutes: Mapped[int] = mapped_column(Integer, default=3 * 24 * 60)
    allowed_work_type_ids: Mapped[list[int] | None] = mapped_column(JSON)  # None = all
    lifecycle_id: Mapped[int] = fk("lifecycles.id")
    published: Mapped[bool] = mapped_column(Boolean, default=True)


class TicketCounter(Base):
    """Per tenant and ticket type; numbers need not be gap-free, only unique."""

    __tablename__ = "ticket_counters"

    tenant_id: Mapped[int] = tenant_fk()
    ticket_type_id: Mapped[int] = fk("ticket_types.id")
    value: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (UniqueConstraint("tenant_id", "ticket_type_id"),)
    __mapper_args__ = {"primary_key": [tenant_id, ticket_type_id]}  # noqa: RUF012


class WorkType(TenantConfiguration, Base):
    __tablename__ = "work_types"

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    name: Mapped[str] = mapped_column(String(200))
    closing_minutes: Mapped[int] = mapped_column(Integer, default=3 * 24 * 60)
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    normal_hours: Mapped[float] = mapped_column(Float, default=1.0)
    published: Mapped[bool] = mapped_column(Boolean, default=True)


class Criticality(TenantConfiguration, Base):
    __tablename__ = "criticalities"

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str] = mapped_column(String(16), default="#9e9e9e")
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class RatingCriterion(TenantConfiguration, Base):
    __tablename__ = "rating_criteria"

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    name: Mapped[str] = mapped_column(String(200))
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
