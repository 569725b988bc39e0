"""Tenants (service companies), their companies and contacts."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fixflow.core.db import Base, fk, id_column, tenant_fk, utcnow


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = id_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Moscow")
    default_locale: Mapped[str] = mapped_column(String(8), default="ru")
    currency: Mapped[str] = mapped_column(String(3), default="RUB", server_default="RUB")  # ISO 4217
    # A new random stamp on every write of tenant configuration; see fixflow.core.configcache.
    config_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CompanyKind(enum.StrEnum):
    CUSTOMER = "customer"
    CONTRACTOR = "contractor"
    OWN = "own"


class Company(Base):
    __tablename__ = "companies"
    __table_args__ = (
        Index("ix_companies_tenant_kind_name", "tenant_id", "kind", "name"),
        UniqueConstraint("tenant_id", "code"),
    )

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(300))
    legal_name: Mapped[str] = mapped_column(String(300), default="")
    code: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(32), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    address: Mapped[str] = mapped_column(String(500), default="")
    tax_id: Mapped[str] = mapped_column(String(32), default="")
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Contact(Base):
    """A person without a login, attached to a company or an object."""

    __tablename__ = "contacts"

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    company_id: Mapped[int | None] = fk("companies.id", nullable=True, index=True)
    object_id: Mapped[int | None] = fk("objects.id", nullable=True, index=True)
    name: Mapped[str] = mapped_column(String(300))
    phone: Mapped[str] = mapped_column(String(32), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
