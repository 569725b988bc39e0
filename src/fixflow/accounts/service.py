"""Accounts, members, authentication and sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from fixflow.accounts import actorcache
from fixflow.accounts.actor import Actor, MemberFacts, RoleGrant, build_actor
from fixflow.accounts.logins import Login, normalize_email, normalize_phone, parse_login
from fixflow.accounts.models import (
    Account,
    AuthSession,
    Member,
    MemberCompany,
    MemberRole,
    Role,
    person_name,
)
from fixflow.accounts.permissions import Permission
from fixflow.accounts.throttle import check_throttle, clear_hits, record_hit
from fixflow.config import Settings
from fixflow.core.configcache import note_config_version
from fixflow.core.db import utcnow
from fixflow.core.errors import DomainError, NotFound, Unauthenticated, ValidationFailed
from fixflow.core.prebuilt import prebuilt_rows
from fixflow.core.security import MIN_PASSWORD_LENGTH, hash_password, new_token, token_digest, verify_password
from fixflow.tenants.models import Tenant

INVALID_CREDENTIALS = "Wrong login or password"


class InvalidCredentials(Unauthenticated):
    keep_changes = True  # the throttle hit recorded for this failure must survive the 401


class TenantChoiceRequired(DomainError):
    status = 409
    type_slug = "tenant-required"
    title = "Choose an organisation"

    def __init__(self, tenants: list[tuple[int, str]]) -> None:
        super().__init__("This login belongs to several organisations: choose one")
        self.tenants = tenants


def find_account(session: Session, login: Login) -> Account | None:
    column = Account.email if login.kind == "email" else Account.phone
    return session.scalar(select(Account).where(column == login.value))


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed("The password must be at least {n} characters long", n=MIN_PASSWORD_LENGTH)


def create_account(
    session: Session, *, email: str | None = None, phone: str | None = None, password: str | None = None
) -> Account:
    norm_email = normalize_email(email) if email else None
    norm_phone = normalize_phone(phone) if phone else None
    if email and not norm_email:
        raise ValidationFailed("Invalid e-mail address")
    if phone and not norm_phone:
        raise ValidationFailed("Invalid phone number")
    if not norm_email and not norm_phone:
        raise ValidationFailed("An e-mail address or a phone number is required")
    account = Account(
        email=norm_email,
        phone=norm_phone,
        password_hash=hash_password(password) if password else None,
    )
    session.add(account)
    session.flush()
    return account


def find_or_create_account(session: Session, *, email: str | None, phone: str | None) -> Account:
    for raw, kind in ((email, "email"), (phone, "phone")):
        if not raw:
            continue
        value = normalize_email(raw) if kind == "email" else normalize_phone(raw)
        if value:
            found = find_account(session, Login(kind, value))
            if found:
                return found
    return create_account(session, email=email, phone=phone)


def add_member(
    session: Session,
    *,
    tenant_id: int,
    account: Account,
    role_codes: Iterable[str],
    company_ids: Iterable[int] = (),
    last_name: str = "",
    first_name: str = "",
    patronymic: str = "",
    position: str = "",
    is_mobile: bool = False,
) -> Member:
    member = Member(
        tenant_id=tenant_id,
        account_id=account.id,
        last_name=last_name,
        first_name=first_name,
        patronymic=patronymic,
        position=position,
        is_mobile=is_mobile,
    )
    session.add(member)
    session.flush()
    codes = list(role_codes)
    roles = session.scalars(select(Role).where(Role.tenant_id == tenant_id, Role.code.in_(codes))).all()
    if len(roles) != len(set(codes)):
        raise ValidationFailed("Unknown role")
    session.add_all(MemberRole(tenant_id=tenant_id, member_id=member.id, role_id=r.id) for r in roles)
    session.add_all(
        MemberCompany(tenant_id=tenant_id, member_id=member.id, company_id=c) for c in set(company_ids)
    )
    session.flush()
    return member


def set_password(session: Session, account: Account, password: str) -> None:
    check_password_strength(password)
    account.password_hash = hash_password(password)
    session.flush()


@dataclass(frozen=True)
class IssuedSession:
    token: str
    session: AuthSession
    member: Member


def _active_members(session: Session, account_id: int) -> list[tuple[Member, Tenant]]:
    rows = session.execute(
        select(Member, Tenant)
        .join(Tenant, Tenant.id == Member.tenant_id)
        .where(Member.account_id == account_id, Member.deleted_at.is_(None), Member.banned.is_(False))
        .order_by(Tenant.name)
    ).all()
    return [(m, t) for m, t in rows]


def authenticate(
    session: Session,
    settings: Settings,
    *,
    login: str,
    password: str,
    tenant_id: int | None = None,
    ip: str = "",
) -> Member:
    """Check the password (throttled per login and per IP); one generic error for every failure."""
    window = dt.timedelta(seconds=settings.login_throttle_window_seconds)
    try:
        parsed = parse_login(login)
    except ValidationFailed:
        raise Unauthenticated(INVALID_CREDENTIALS) from None
    login_key, ip_key = f"login:{parsed.value}", f"login-ip:{ip}"
    check_throttle(
        session,
        {login_key: settings.login_failures_per_login, ip_key: settings.login_failures_per_ip},
        window,
    )
    account = find_account(session, parsed)
    ok = verify_password(account.password_hash if account else None, password)
    members = _active_members(session, account.id) if account and ok and not account.banned else []
    if not members:
        record_hit(session, login_key, ip_key)
        raise InvalidCredentials(INVALID_CREDENTIALS)
    clear_hits(session, login_key)
    if tenant_id is None:
        if len(members) > 1:
            raise TenantChoiceRequired([(t.id, t.name) for _, t in members])
        return members[0][0]
    for member, _tenant in members:
        if member.tenant_id == tenant_id:
            return member
    raise Unauthenticated(INVALID_CREDENTIALS)


def issue_session(
    session: Session, settings: Settings, member: Member, *, kind: str = "api", user_agent: str = ""
) -> IssuedSession:
    token = new_token()
    auth = AuthSession(
        tenant_id=member.tenant_id,
        token_hash=token_digest(token),
        account_id=member.account_id,
        member_id=member.id,
        kind=kind,
        csrf_token=new_token() if kind == "web" else "",
        expires_at=utcnow() + dt.timedelta(days=settings.session_days),
        user_agent=user_agent[:300],
    )
    session.add(auth)
    session.flush()
    return IssuedSession(token=token, session=auth, member=member)


@dataclass(frozen=True)
class SessionRecord:
    """The login session behind a request, as authentication read it (not an ORM object)."""

    id: int
    kind: str
    csrf_token: str
    account_id: int
    member_id: int


@dataclass(frozen=True)
class Authenticated:
    actor: Actor
    auth_session: SessionRecord
    tenant_timezone: str = "Europe/Moscow"


# Built once: authentication runs on every request, and building a select costs more than running it.
_SESSION_LOOKUP = (
    select(
        AuthSession.id,
        AuthSession.kind,
        AuthSession.csrf_token,
        AuthSession.expires_at,
        AuthSession.revoked_at,
        AuthSession.account_id,
        Member.id.label("member_id"),
        Member.tenant_id,
        Member.last_name,
        Member.first_name,
        Member.patronymic,
        Member.locale,
        Member.is_mobile,
        Member.banned.label("member_banned"),
        Member.deleted_at,
        Account.banned.label("account_banned"),
        Tenant.config_version,
        Tenant.timezone.label("tenant_timezone"),
        Role.id.label("role_id"),
        Role.code.label("role_code"),
        Role.is_staff,
        Role.permissions,
        Role.scopes,
        MemberCompany.company_id,
    )
    .join(Member, Member.id == AuthSession.member_id)
    .join(Account, Account.id == AuthSession.account_id)
    .join(Tenant, Tenant.id == Member.tenant_id)
    .outerjoin(MemberRole, MemberRole.member_id == Member.id)
    .outerjoin(Role, Role.id == MemberRole.role_id)
    .outerjoin(MemberCompany, MemberCompany.member_id == Member.id)
    .where(AuthSession.token_hash == bindparam("token_hash"))
)


# The same with the fingerprint ``actorcache`` validates a remembered actor against, in one snapshot.
_SESSION_LOOKUP_FINGERPRINTED = _SESSION_LOOKUP.add_columns(actorcache.FINGERPRINT_WITH_COLLEAGUES)


def resolve_session(session: Session, token: str, *, remember: bool = False) -> Authenticated:
    """The actor behind a token; revoked, expired, banned or deleted → 401.

    One statement: the session, member, account, the tenant's configuration version and one row per
    (role, company) of the member — authentication runs on every request. ``remember`` keeps the
    actor for ``actorcache.run_as_remembered`` (the hottest reads).
    """
    token_hash = token_digest(token)
    if remember:
        params = {"token_hash": token_hash, "auth_token_hash": token_hash, "auth_now": utcnow()}
        rows = prebuilt_rows(session, _SESSION_LOOKUP_FINGERPRINTED, params)
    else:
        rows = prebuilt_rows(session, _SESSION_LOOKUP, {"token_hash": token_hash})
    if not rows:
        raise Unauthenticated("Please log in")
    first = rows[0]
    if (
        first.revoked_at is not None
        or first.expires_at <= utcnow()
        or first.account_banned
        or first.member_banned
        or first.deleted_at is not None
    ):
        raise Unauthenticated("Please log in")
    note_config_version(session, first.tenant_id, first.config_version)
    roles = {
        r.role_id: RoleGrant(r.role_id, r.role_code, r.is_staff, r.permissions, r.scopes)
        for r in rows
        if r.role_id is not None
    }
    companies = {r.company_id for r in rows if r.company_id is not None}
    name = person_name(first.member_id, first.last_name, first.first_name, first.patronymic)
    facts = MemberFacts(
        first.member_id,
        first.tenant_id,
        first.account_id,
        name,
        first.locale,
        first.is_mobile,
    )
    record = SessionRecord(first.id, first.kind, first.csrf_token, first.account_id, first.member_id)
    authenticated = Authenticated(
        actor=build_actor(session, facts, list(roles.values()), companies),
        auth_session=record,
        tenant_timezone=first.tenant_timezone,
    )
    if remember:
        actorcache.remember(token_hash, authenticated, getattr(first, actorcache.FINGERPRINT_LABEL))
    return authenticated


def revoke_session(session: Session, session_id: int) -> None:
    session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_all_sessions(session: Session, account_id: int, *, except_session_id: int | None = None) -> None:
    stmt = update(AuthSession).where(AuthSession.account_id == account_id, AuthSession.revoked_at.is_(None))
    if except_session_id is not None:
        stmt = stmt.where(AuthSession.id != except_session_id)
    session.execute(stmt.values(revoked_at=utcnow()))


def ban_account(session: Session, account: Account) -> None:
    account.banned = True
    revoke_all_sessions(session, account.id)
    session.flush()


def get_member_for_actor(session: Session, actor: Actor, member_id: int) -> tuple[Member, bool]:
    """The member and whether they are staff, if the actor may see them (else 404).

    Customers see staff (their executors) and themselves; other people need ``member.view``.
    """
    member = get_member_in_tenant(session, actor.tenant_id, member_id)
    is_staff_member = bool(
        session.scalar(
            select(Role.id)
            .join(MemberRole, MemberRole.role_id == Role.id)
            .where(MemberRole.member_id == member.id, Role.is_staff.is_(True))
            .limit(1)
        )
    )
    if not (actor.can(Permission.MEMBER_VIEW) or is_staff_member or member.id == actor.member_id):
        raise NotFound("Member not found")
    if member.deleted_at is not None and not actor.is_staff:
        raise NotFound("Member not found")
    return member, is_staff_member


def get_member_in_tenant(session: Session, tenant_id: int, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None or member.tenant_id != tenant_id:
        raise NotFound("Member not found")
    return member
