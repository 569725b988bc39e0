"""Lifecycles stored as data: stages, customer-facing statuses and transitions."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fixflow.core.configcache import TenantConfiguration
from fixflow.core.db import Base, fk, id_column, tenant_fk


class Status(TenantConfiguration, Base):
    __tablename__ = "statuses"

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str] = mapped_column(String(16), default="#9e9e9e")


class Lifecycle(TenantConfiguration, Base):
    __tablename__ = "lifecycles"

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    name: Mapped[str] = mapped_column(String(200))
    start_status_id: Mapped[int] = fk("statuses.id")


class Stage(TenantConfiguration, Base):
    __tablename__ = "stages"

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    lifecycle_id: Mapped[int] = fk("lifecycles.id", index=True)
    name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str] = mapped_column(String(16), default="#9e9e9e")
    is_start: Mapped[bool] = mapped_column(Boolean, default=False)
    # A cancellation closes the ticket but is not completed work (no rating).
    is_cancellation: Mapped[bool] = mapped_column(Boolean, default=False)
    entry_action: Mapped[str | None] = mapped_column(String(32))
    entry_action_member_id: Mapped[int | None] = fk("members.id", nullable=True)
    requirements: Mapped[list[str]] = mapped_column(JSON, default=list)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class Transition(TenantConfiguration, Base):
    __tablename__ = "transitions"

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    lifecycle_id: Mapped[int] = fk("lifecycles.id", index=True)
    from_stage_id: Mapped[int] = fk("stages.id")
    to_stage_id: Mapped[int] = fk("stages.id")
    label: Mapped[str] = mapped_column(String(100))
    role_labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    branch: Mapped[str] = mapped_column(String(16))  # main | approval | customer
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    set_status_id: Mapped[int | None] = fk("statuses.id", nullable=True)
    requires_comment: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_after_seconds: Mapped[int | None] = mapped_column(Integer)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
