"""One tree of service objects: sites and equipment are the same entity."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fixflow.core.configcache import TenantConfiguration
from fixflow.core.db import Base, fk, id_column, tenant_fk, utcnow


class ObjectType(Base):
    __tablename__ = "object_types"

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    name: Mapped[str] = mapped_column(String(200))
    requires_address: Mapped[bool] = mapped_column(Boolean, default=False)


class ServiceObject(Base, TenantConfiguration):
    __tablename__ = "objects"
    # Names are cached by id (objects.queries.object_names), the list filter's objects per company
    # set (webapp.lookups.objects_for_filter): a new or removed object counts too.
    config_attributes = ("name", "path", "company_id", "published", "deleted_at")
    config_rows_count = True
    __table_args__ = (
        Index("ix_objects_tenant_company", "tenant_id", "company_id", "id"),
        Index("ix_objects_tenant_path", "tenant_id", "path"),
        # Subtrees are path-prefix ranges (objects.queries.subtree_terms).
        Index(
            "ix_objects_tenant_path_pattern",
            "tenant_id",
            "path",
            postgresql_ops={"path": "text_pattern_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    parent_id: Mapped[int | None] = fk("objects.id", nullable=True, index=True)
    # Materialised path of ids ("/1/7/42/"): ancestors and subtrees without recursive queries.
    path: Mapped[str] = mapped_column(String(1000), default="/")
    type_id: Mapped[int] = fk("object_types.id")
    name: Mapped[str] = mapped_column(String(300))
    object_class: Mapped[str] = mapped_column(String(100), default="")
    company_id: Mapped[int] = fk("companies.id")
    address: Mapped[str] = mapped_column(String(500), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    timezone: Mapped[str | None] = mapped_column(String(64))
    serial_number: Mapped[str] = mapped_column(String(100), default="")
    warranty_until: Mapped[dt.date | None] = mapped_column(Date)
    responsible_id: Mapped[int | None] = fk("members.id", nullable=True)
    allowed_work_type_ids: Mapped[list[int] | None] = mapped_column(JSON)  # None = all
    notes: Mapped[str] = mapped_column(Text, default="")
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column()

    @property
    def ancestor_ids(self) -> list[int]:
        return [int(p) for p in self.path.strip("/").split("/") if p and int(p) != self.id]
