"""Password-reset links, one-time SMS codes and invitations. Only hashes of the secrets are stored."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fixflow.core.db import Base, fk, id_column, tenant_fk, utcnow


class PasswordResetToken(Base):
    """A single-use link sent by e-mail; ``token_hash`` is the SHA-256 of the token in the link."""

    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = id_column(primary_key=True)
    account_id: Mapped[int] = fk("accounts.id", index=True, ondelete="CASCADE")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column()
    voided_at: Mapped[dt.datetime | None] = mapped_column()


class OneTimeCode(Base):
    """A 6-digit SMS code (password reset or login); ``code_hash`` = SHA-256 of ``salt:code``."""

    __tablename__ = "one_time_codes"
    __table_args__ = (Index("ix_one_time_codes_account_purpose", "account_id", "purpose", "created_at"),)

    id: Mapped[int] = id_column(primary_key=True)
    account_id: Mapped[int] = fk("accounts.id", ondelete="CASCADE")
    purpose: Mapped[str] = mapped_column(String(16))  # reset | login
    phone: Mapped[str] = mapped_column(String(20))
    salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column()
    voided_at: Mapped[dt.datetime | None] = mapped_column()


class Invitation(Base):
    """A link to set the first password, one per channel (e-mail, SMS) so accepting proves that channel."""

    __tablename__ = "invitations"

    id: Mapped[int] = id_column(primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    member_id: Mapped[int] = fk("members.id", index=True, ondelete="CASCADE")
    account_id: Mapped[int] = fk("accounts.id", index=True, ondelete="CASCADE")
    channel: Mapped[str] = mapped_column(String(8))  # email | sms
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = fk("members.id", nullable=True, ondelete="SET NULL")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    accepted_at: Mapped[dt.datetime | None] = mapped_column()
    voided_at: Mapped[dt.datetime | None] = mapped_column()
