"""Tables of additional fields: definitions, the role × stage access matrix, and the JSON indexes.

Values are not stored here: they live in the `fields` JSON document of their owner row (tickets,
objects, companies), keyed by field code (planning spec §2).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fixflow.core.configcache import TenantConfiguration
from fixflow.core.db import Base, fk, id_column, tenant_fk, utcnow
from fixflow.tickets.models import Ticket


class FieldEntity(enum.StrEnum):
    TICKET = "ticket"
    OBJECT = "object"
    COMPANY = "company"


class FieldDefinition(TenantConfiguration, Base):
    __tablename__ = "field_definitions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "entity", "code"),
        Index("ix_field_definitions_tenant_entity", "tenant_id", "entity", "sort_order", "id"),
    )

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    entity: Mapped[str] = mapped_column(String(16))
    # Duplicated from `spec` so the unique constraint can hold it; never changes after creation.
    code: Mapped[str] = mapped_column(String(64))
    # `fixflow.fields.types.spec_to_dict` form; its "code" and "archived" are overridden by the columns.
    spec: Mapped[dict[str, Any]] = mapped_column()
    help: Mapped[str] = mapped_column(Text, default="")
    ticket_type_ids: Mapped[list[int] | None] = mapped_column(JSON)  # None = every ticket type
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)


class FieldAccess(TenantConfiguration, Base):
    """One explicit cell of a ticket field's matrix; a missing cell takes `access.default_level`."""

    __tablename__ = "field_access"
    __table_args__ = (UniqueConstraint("definition_id", "role_id", "stage_id"),)

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    definition_id: Mapped[int] = fk("field_definitions.id", ondelete="CASCADE")
    role_id: Mapped[int] = fk("roles.id", ondelete="CASCADE", index=True)
    stage_id: Mapped[int] = fk("stages.id", ondelete="CASCADE", index=True)
    level: Mapped[str] = mapped_column(String(8))  # hidden | read | write | required


# List filters by an additional field: equality and any-of compile to `fields @> '{"code": value}'`
# on PostgreSQL, which this GIN index (jsonb_path_ops: containment only, smaller and faster than the
# default opclass) answers. Ranges cannot use it; see `fixflow.fields.queries`. SQLite gets no index
# on the JSON text (it would only duplicate the document).
TICKET_FIELDS_GIN = Index(
    "ix_tickets_fields_gin",
    Ticket.__table__.c.fields,
    postgresql_using="gin",
    postgresql_ops={"fields": "jsonb_path_ops"},
).ddl_if(dialect="postgresql")
