"""One-time SMS codes (password reset, login) and login by SMS code.

Rules (spec customer-app screens 1–2): 6 digits, valid 10 minutes, at most 5 tries, a new code not
before 60 s. Only a salted SHA-256 of a code is stored. Requests never reveal whether an account
exists: the request path only counts the request and queues a job; the account is looked up in the
worker (``deliver_login_code``), so the answer and its timing are the same for every phone number.
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fixflow.accounts.logins import normalize_phone
from fixflow.accounts.models import Account, Member
from fixflow.accounts.models_recovery import OneTimeCode
from fixflow.accounts.service import TenantChoiceRequired
from fixflow.accounts.throttle import check_throttle, clear_hits, record_hit
from fixflow.config import Settings
from fixflow.core.db import utcnow
from fixflow.core.errors import FieldProblem, Unauthenticated, ValidationFailed
from fixflow.core.security import constant_time_equals, new_numeric_code, token_digest
from fixflow.jobs.outbox import schedule_job
from fixflow.notifications.email import resolve_locale
from fixflow.notifications.sms import queue_sms
from fixflow.tenants.models import Tenant

LOGIN_CODE_REQUEST = "login_code_request"
CODE_DIGITS = 6
CODE_TTL = dt.timedelta(minutes=10)
RESEND_AFTER = dt.timedelta(seconds=60)
MAX_TRIES = 5
# Requests (codes, links) per target, and failed tries per target and per IP, in a sliding window.
REQUEST_WINDOW = dt.timedelta(hours=1)
REQUESTS_PER_TARGET = 10
FAILURE_WINDOW = dt.timedelta(hours=1)
FAILURES_PER_TARGET = 10
FAILURES_PER_IP = 50

WRONG_CODE = "Wrong or expired code"

_LOGIN_SMS = {
    "ru": "Код для входа: {code}. Действует 10 минут. Никому его не сообщайте.",
    "en": "Your login code: {code}. Valid for 10 minutes. Do not share it with anyone.",
}


class CodePurpose(enum.StrEnum):
    RESET = "reset"
    LOGIN = "login"


class CodeRejected(ValidationFailed):
    """A wrong, spent or expired code. The spent try and the throttle hit are kept (committed)."""

    keep_changes = True

    def __init__(self) -> None:
        super().__init__(WRONG_CODE, errors=[FieldProblem("code", WRONG_CODE)])


class LoginCodeRejected(Unauthenticated):
    keep_changes = True

    def __init__(self) -> None:
        super().__init__(WRONG_CODE)


def hash_code(salt: str, code: str) -> str:
    return token_digest(f"{salt}:{code}")


def count_request(
    session: Session, scope: str, target: str, *, ip: str, per_ip: int, window: dt.timedelta
) -> None:
    """Throttle code/link requests per target and per IP; every request counts, found or not."""
    target_key, ip_key = f"{scope}:{target}", f"{scope}-ip:{ip}"
    check_throttle(session, {target_key: REQUESTS_PER_TARGET}, REQUEST_WINDOW)
    check_throttle(session, {ip_key: per_ip}, window)
    record_hit(session, target_key, ip_key)


def failure_keys(scope: str, target: str, ip: str) -> dict[str, int]:
    return {f"{scope}-fail:{target}": FAILURES_PER_TARGET, f"{scope}-fail-ip:{ip}": FAILURES_PER_IP}


def issue_code(session: Session, account: Account, *, purpose: CodePurpose, phone: str) -> str | None:
    """A fresh code (older ones voided), or None when the last one is younger than 60 s."""
    now = utcnow()
    recent = session.scalar(
        select(OneTimeCode.id)
        .where(
            OneTimeCode.account_id == account.id,
            OneTimeCode.purpose == purpose.value,
            OneTimeCode.created_at > now - RESEND_AFTER,
        )
        .limit(1)
    )
    if recent is not None:
        return None
    void_codes(session, account.id, purpose)
    code, salt = new_numeric_code(CODE_DIGITS), secrets.token_hex(16)
    session.add(
        OneTimeCode(
            account_id=account.id,
            purpose=purpose.value,
            phone=phone,
            salt=salt,
            code_hash=hash_code(salt, code),
            created_at=now,
            expires_at=now + CODE_TTL,
        )
    )
    session.flush()
    return code


def void_codes(session: Session, account_id: int, purpose: CodePurpose | None = None) -> None:
    stmt = update(OneTimeCode).where(
        OneTimeCode.account_id == account_id,
        OneTimeCode.used_at.is_(None),
        OneTimeCode.voided_at.is_(None),
    )
    if purpose is not None:
        stmt = stmt.where(OneTimeCode.purpose == purpose.value)
    session.execute(stmt.values(voided_at=utcnow()).execution_options(synchronize_session=False))


def consume_code(
    session: Session, *, account_id: int, purpose: CodePurpose, code: str, use_up: bool = True
) -> bool:
    """Spend one try on the newest live code; True when it matches (then used up, unless ``use_up``
    is False: the caller still needs an answer from the person before the code may be spent).

    The try is reserved with a conditional UPDATE before comparing, so parallel guesses cannot
    exceed the limit; the fifth wrong try voids the code.
    """
    now = utcnow()
    row = session.execute(
        select(OneTimeCode.id, OneTimeCode.salt, OneTimeCode.code_hash)
        .where(
            OneTimeCode.account_id == account_id,
            OneTimeCode.purpose == purpose.value,
            OneTimeCode.used_at.is_(None),
            OneTimeCode.voided_at.is_(None),
            OneTimeCode.expires_at > now,
        )
        .order_by(OneTimeCode.created_at.desc(), OneTimeCode.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return False
    live = (OneTimeCode.id == row.id, OneTimeCode.used_at.is_(None), OneTimeCode.voided_at.is_(None))
    reserved = session.execute(
        update(OneTimeCode)
        .where(*live, OneTimeCode.tries < MAX_TRIES)
        .values(tries=OneTimeCode.tries + 1)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(reserved) != 1:
        return False
    if constant_time_equals(hash_code(row.salt, code.strip()), row.code_hash):
        if not use_up:
            return True
        used = session.execute(
            update(OneTimeCode).where(*live).values(used_at=now).execution_options(synchronize_session=False)
        )
        return _rowcount(used) == 1
    session.execute(
        update(OneTimeCode)
        .where(*live, OneTimeCode.tries >= MAX_TRIES)
        .values(voided_at=now)
        .execution_options(synchronize_session=False)
    )
    return False


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def active_memberships(session: Session, account_id: int) -> list[tuple[Member, Tenant]]:
    rows = session.execute(
        select(Member, Tenant)
        .join(Tenant, Tenant.id == Member.tenant_id)
        .where(Member.account_id == account_id, Member.deleted_at.is_(None), Member.banned.is_(False))
        .order_by(Tenant.name, Tenant.id)
    ).all()
    return [(m, t) for m, t in rows]


def account_by_phone(session: Session, phone: str) -> Account | None:
    return session.scalar(select(Account).where(Account.phone == phone))


def require_phone(raw: str) -> str:
    phone = normalize_phone(raw)
    if phone is None:
        raise ValidationFailed("Invalid phone number", errors=[FieldProblem("phone", "Invalid phone number")])
    return phone


def request_login_code(
    session: Session, settings: Settings, *, phone: str, ip: str, locale: str | None = None
) -> None:
    """Queue "send a login code to this phone"; same outcome whether or not the account exists."""
    e164 = require_phone(phone)
    count_request(
        session,
        "otp-login",
        e164,
        ip=ip,
        per_ip=settings.login_failures_per_ip,
        window=dt.timedelta(seconds=settings.login_throttle_window_seconds),
    )
    schedule_job(session, kind=LOGIN_CODE_REQUEST, payload={"phone": e164, "locale": locale})


def deliver_login_code(session: Session, payload: dict[str, Any]) -> None:
    """The worker half: only verified phones of active, unbanned accounts get a code."""
    phone = str(payload["phone"])
    account = account_by_phone(session, phone)
    if account is None or not account.phone_verified or account.banned:
        return
    memberships = active_memberships(session, account.id)
    if not memberships:
        return
    code = issue_code(session, account, purpose=CodePurpose.LOGIN, phone=phone)
    if code is None:
        return  # asked again within 60 s: silently not sent
    member, tenant = memberships[0]
    locale = resolve_locale(payload.get("locale"), member.locale, tenant.default_locale)
    queue_sms(session, phone=phone, text=_LOGIN_SMS[locale].format(code=code))


def login_with_code(
    session: Session,
    settings: Settings,
    *,
    phone: str,
    code: str,
    tenant_id: int | None = None,
    ip: str = "",
) -> Member:
    """The member behind a valid login code; the caller issues the session. One error for every failure."""
    e164 = normalize_phone(phone) or phone.strip()[:40]
    keys = {
        f"otp-login-fail:{e164}": FAILURES_PER_TARGET,
        f"otp-login-fail-ip:{ip}": settings.login_failures_per_ip,
    }
    check_throttle(session, keys, FAILURE_WINDOW)
    account = account_by_phone(session, e164)
    eligible = account is not None and account.phone_verified and not account.banned
    memberships = active_memberships(session, account.id) if account is not None and eligible else []
    chosen = [(m, t) for m, t in memberships if tenant_id is None or m.tenant_id == tenant_id]
    # Several organisations: the code is checked (a try is spent) but kept for the retry with a tenant_id.
    single = len(chosen) == 1
    # The code is looked up even without an account (id 0 matches nothing): similar work either way.
    account_id = account.id if account is not None and chosen else 0
    if not consume_code(session, account_id=account_id, purpose=CodePurpose.LOGIN, code=code, use_up=single):
        record_hit(session, *keys)
        raise LoginCodeRejected()
    if not single:
        raise TenantChoiceRequired([(t.id, t.name) for _, t in chosen])
    clear_hits(session, f"otp-login-fail:{e164}")
    return chosen[0][0]
