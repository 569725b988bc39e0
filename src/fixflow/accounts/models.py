"""Accounts (global login identities), members of tenants, roles and sessions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fixflow.core.configcache import TenantConfiguration
from fixflow.core.db import Base, fk, id_column, tenant_fk, utcnow


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = id_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)  # stored lower-case
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)  # E.164
    password_hash: Mapped[str | None] = mapped_column(String(200))  # None until an invitation is accepted
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    phone_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    banned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Role(TenantConfiguration, Base):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    is_staff: Mapped[bool] = mapped_column(Boolean)
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("tenant_id", "account_id"),)

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    account_id: Mapped[int] = fk("accounts.id", index=True)
    last_name: Mapped[str] = mapped_column(String(100), default="")
    first_name: Mapped[str] = mapped_column(String(100), default="")
    patronymic: Mapped[str] = mapped_column(String(100), default="")
    position: Mapped[str] = mapped_column(String(200), default="")
    is_mobile: Mapped[bool] = mapped_column(Boolean, default=False)
    banned: Mapped[bool] = mapped_column(Boolean, default=False)
    locale: Mapped[str | None] = mapped_column(String(8))
    notification_prefs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column()

    @property
    def display_name(self) -> str:
        return person_name(self.id, self.last_name, self.first_name, self.patronymic)


class MemberRole(Base):
    __tablename__ = "member_roles"

    tenant_id: Mapped[int] = tenant_fk()
    member_id: Mapped[int] = fk("members.id", ondelete="CASCADE")
    role_id: Mapped[int] = fk("roles.id", ondelete="CASCADE", index=True)
    __table_args__ = (UniqueConstraint("member_id", "role_id"),)
    __mapper_args__ = {"primary_key": [member_id, role_id]}  # noqa: RUF012


class MemberCompany(Base):
    __tablename__ = "member_companies"

    tenant_id: Mapped[int] = tenant_fk()
    member_id: Mapped[int] = fk("members.id", ondelete="CASCADE")
    company_id: Mapped[int] = fk("companies.id", ondelete="CASCADE", index=True)
    __table_args__ = (UniqueConstraint("member_id", "company_id"),)
    __mapper_args__ = {"primary_key": [member_id, company_id]}  # noqa: RUF012


class AuthSession(Base):
    """An opaque, revocable login session; only the SHA-256 of the token is stored."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = fk("accounts.id", index=True)
    member_id: Mapped[int] = fk("members.id", index=True)
    kind: Mapped[str] = mapped_column(String(8), default="api")  # api | web
    csrf_token: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column()
    user_agent: Mapped[str] = mapped_column(String(300), default="")


class ThrottleHit(Base):
    """A failed attempt counted against a key (login, IP, OTP target) within a sliding window."""

    __tablename__ = "throttle_hits"
    __table_args__ = (Index("ix_throttle_hits_key_at", "key", "at"),)

    id: Mapped[int] = id_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def person_name(member_id: int, last_name: str, first_name: str, patronymic: str) -> str:
    """«Фамилия Имя Отчество», the parts there are, else ``#id`` (for code reading columns, not members)."""
    return " ".join(p for p in (last_name, first_name, patronymic) if p) or f"#{member_id}"
