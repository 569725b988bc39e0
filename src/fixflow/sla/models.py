"""Service schedules (working hours + holidays) and SLA rules that pick a ticket's deadline."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fixflow.core.configcache import TenantConfiguration
from fixflow.core.db import Base, fk, id_column, tenant_fk, utcnow


class ServiceSchedule(TenantConfiguration, Base):
    __tablename__ = "service_schedules"

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    name: Mapped[str] = mapped_column(String(200))
    # fixflow.sla.worktime.schedule_to_dict(): {"timezone", "week": {"mon": [["09:00","18:00"]]}, "holidays"}
    definition: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SlaRule(TenantConfiguration, Base):
    """Matches when every non-null list contains the ticket's value (null = any)."""

    __tablename__ = "sla_rules"

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    name: Mapped[str] = mapped_column(String(200))
    schedule_id: Mapped[int] = fk("service_schedules.id", index=True)
    minutes: Mapped[int] = mapped_column(Integer)  # working time allowed until the deadline
    ticket_type_ids: Mapped[list[int] | None] = mapped_column(JSON)
    criticality_ids: Mapped[list[int] | None] = mapped_column(JSON)
    work_type_ids: Mapped[list[int] | None] = mapped_column(JSON)
    company_ids: Mapped[list[int] | None] = mapped_column(JSON)
    object_ids: Mapped[list[int] | None] = mapped_column(JSON)  # an object also matches its descendants
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
