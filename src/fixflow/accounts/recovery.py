"""Password recovery (e-mail link or SMS code) and changing the password.

No enumeration: ``request_password_reset`` does the same for every well-formed login — count the
request, queue one job — and the account is looked up by the worker (``deliver_password_reset``).
A new password ends every session of the account and voids every outstanding link and code.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.accounts.logins import Login, normalize_phone, parse_login
from fixflow.accounts.models import Account
from fixflow.accounts.models_recovery import PasswordResetToken
from fixflow.accounts.otp import (
    FAILURE_WINDOW,
    FAILURES_PER_IP,
    CodePurpose,
    CodeRejected,
    account_by_phone,
    active_memberships,
    consume_code,
    count_request,
    failure_keys,
    issue_code,
    void_codes,
)
from fixflow.accounts.service import check_password_strength, find_account, revoke_all_sessions, set_password
from fixflow.accounts.throttle import check_throttle, record_hit
from fixflow.config import Settings
from fixflow.core.db import utcnow
from fixflow.core.errors import FieldProblem, ValidationFailed
from fixflow.core.security import new_token, token_digest, verify_password
from fixflow.jobs.outbox import schedule_job
from fixflow.notifications.email import compose_email, queue_email, resolve_locale
from fixflow.notifications.sms import queue_sms

PASSWORD_RESET_REQUEST = "password_reset_request"  # noqa: S105 (a job kind)
RESET_LINK_TTL = dt.timedelta(minutes=30)
RESEND_AFTER = dt.timedelta(seconds=60)
RESET_PATH = "/app/reset/"
PASSWORD_CHANGE_FAILURES = 5
PASSWORD_CHANGE_WINDOW = dt.timedelta(minutes=15)

INVALID_LINK = "The link is invalid or has expired"
WRONG_PASSWORD = "Wrong current password"  # noqa: S105 (a message)

_RESET_EMAIL: dict[str, dict[str, Any]] = {
    "ru": {
        "subject": "Восстановление пароля",
        "paragraphs": [
            "Здравствуйте!",
            "Мы получили запрос на смену пароля. Ссылка действует 30 минут и сработает один раз.",
        ],
        "link_label": "Задать новый пароль",
        "footer": "Если вы не запрашивали смену пароля, просто проигнорируйте это письмо — "
        "пароль останется прежним.",
    },
    "en": {
        "subject": "Password recovery",
        "paragraphs": [
            "Hello!",
            "We received a request to change your password. The link is valid for 30 minutes and works once.",
        ],
        "link_label": "Set a new password",
        "footer": "If you did not ask to change your password, ignore this message — "
        "your password stays the same.",
    },
}
_RESET_SMS = {
    "ru": "Код для смены пароля: {code}. Действует 10 минут. Никому его не сообщайте.",
    "en": "Your password reset code: {code}. Valid for 10 minutes. Do not share it with anyone.",
}


class InvalidLink(ValidationFailed):
    keep_changes = True  # the throttle hit of a guessed link stays

    def __init__(self) -> None:
        super().__init__(INVALID_LINK, errors=[FieldProblem("token", INVALID_LINK)])


class WrongCurrentPassword(ValidationFailed):
    keep_changes = True

    def __init__(self) -> None:
        super().__init__(WRONG_PASSWORD, errors=[FieldProblem("current_password", WRONG_PASSWORD)])


def reset_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{RESET_PATH}{token}"


def request_password_reset(
    session: Session, settings: Settings, *, login: str, ip: str, locale: str | None = None
) -> None:
    """Queue "send recovery to this login"; the outcome is the same whether or not it exists."""
    parsed = parse_login(login)  # only the format is judged here
    count_request(
        session,
        "reset",
        parsed.value,
        ip=ip,
        per_ip=settings.login_failures_per_ip,
        window=dt.timedelta(seconds=settings.login_throttle_window_seconds),
    )
    schedule_job(
        session,
        kind=PASSWORD_RESET_REQUEST,
        payload={"kind": parsed.kind, "login": parsed.value, "locale": locale, "base_url": settings.base_url},
    )


def deliver_password_reset(session: Session, payload: dict[str, Any]) -> None:
    """The worker half: a link by e-mail or a code by SMS, for accounts that can log in at all."""
    login = Login(str(payload["kind"]), str(payload["login"]))
    account = find_account(session, login)
    # Pending invitations are accepted through the invitation link, not here.
    if account is None or account.banned or account.password_hash is None:
        return
    memberships = active_memberships(session, account.id)
    locale = resolve_locale(
        payload.get("locale"),
        *(m.locale for m, _ in memberships),
        *(t.default_locale for _, t in memberships),
    )
    if login.kind == "email":
        token = _issue_reset_token(session, account)
        if token is not None:
            texts = _RESET_EMAIL[locale]
            content = compose_email(link=reset_link(str(payload["base_url"]), token), **texts)
            queue_email(session, to=login.value, content=content)
        return
    code = issue_code(session, account, purpose=CodePurpose.RESET, phone=login.value)
    if code is not None:
        queue_sms(session, phone=login.value, text=_RESET_SMS[locale].format(code=code))


def _issue_reset_token(session: Session, account: Account) -> str | None:
    now = utcnow()
    recent = session.scalar(
        select(PasswordResetToken.id)
        .where(
            PasswordResetToken.account_id == account.id, PasswordResetToken.created_at > now - RESEND_AFTER
        )
        .limit(1)
    )
    if recent is not None:
        return None  # asked again within 60 s: silently not sent
    _void_tokens(session, account.id)
    token = new_token()
    session.add(
        PasswordResetToken(
            account_id=account.id,
            token_hash=token_digest(token),
            created_at=now,
            expires_at=now + RESET_LINK_TTL,
        )
    )
    session.flush()
    return token


def _void_tokens(session: Session, account_id: int) -> None:
    session.execute(
        update(PasswordResetToken)
        .where(
            PasswordResetToken.account_id == account_id,
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.voided_at.is_(None),
        )
        .values(voided_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _live_token(session: Session, token: str, ip: str) -> PasswordResetToken:
    keys = {f"reset-link-fail-ip:{ip}": FAILURES_PER_IP}
    check_throttle(session, keys, FAILURE_WINDOW)
    row = session.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == token_digest(token))
    )
    if row is None or row.used_at is not None or row.voided_at is not None or row.expires_at <= utcnow():
        record_hit(session, *keys)
        raise InvalidLink()
    return row


def check_reset_token(session: Session, token: str, *, ip: str = "") -> int:
    """The account a live reset link belongs to (for the «Новый пароль» screen), else InvalidLink."""
    return _live_token(session, token, ip).account_id


def reset_password_with_token(session: Session, *, token: str, new_password: str, ip: str = "") -> int:
    check_password_strength(new_password)  # before spending the link
    row = _live_token(session, token, ip)
    spent = session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.id == row.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    account = session.get(Account, row.account_id)
    if int(getattr(spent, "rowcount", 0) or 0) != 1 or account is None or account.banned:
        raise InvalidLink()
    account.email_verified = True  # the link proved the mailbox
    _set_new_password(session, account, new_password)
    return account.id


def reset_password_with_code(
    session: Session, *, phone: str, code: str, new_password: str, ip: str = ""
) -> int:
    check_password_strength(new_password)  # before spending a try
    e164 = normalize_phone(phone) or phone.strip()[:40]
    keys = failure_keys("reset", e164, ip)
    check_throttle(session, keys, FAILURE_WINDOW)
    account = account_by_phone(session, e164)
    usable = account is not None and not account.banned and account.password_hash is not None
    # The code is looked up even without an account (id 0 matches nothing): similar work either way.
    account_id = account.id if account is not None and usable else 0
    if account is None or not consume_code(
        session, account_id=account_id, purpose=CodePurpose.RESET, code=code
    ):
        record_hit(session, *keys)
        raise CodeRejected()
    account.phone_verified = True  # the code proved the phone
    _set_new_password(session, account, new_password)
    return account.id


def _set_new_password(session: Session, account: Account, password: str) -> None:
    set_password(session, account, password)
    end_credentials(session, account.id)


def end_credentials(session: Session, account_id: int, *, keep_session_id: int | None = None) -> None:
    """After a password change: sessions end (but ``keep_session_id``), links and codes are void."""
    revoke_all_sessions(session, account_id, except_session_id=keep_session_id)
    _void_tokens(session, account_id)
    void_codes(session, account_id)
    session.flush()


def change_password(
    session: Session,
    actor: Actor,
    *,
    current_password: str,
    new_password: str,
    keep_session_id: int | None = None,
) -> None:
    """Needs the current password (throttled); ends the account's other sessions."""
    key = f"password-change:{actor.account_id}"
    check_throttle(session, {key: PASSWORD_CHANGE_FAILURES}, PASSWORD_CHANGE_WINDOW)
    account = session.get(Account, actor.account_id)
    if account is None or not verify_password(account.password_hash, current_password):
        record_hit(session, key)
        raise WrongCurrentPassword()
    check_password_strength(new_password)
    set_password(session, account, new_password)
    end_credentials(session, account.id, keep_session_id=keep_session_id)
