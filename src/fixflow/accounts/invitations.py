"""Staff create members and invite them to set their first password (spec customer-app screen 3).

An invitation is one link per channel (e-mail, SMS), valid 72 hours; sending again voids the older
links; until a link is accepted the account has no password and cannot log in. An account that
already exists keeps its identifiers and password: the new member gets a notice, not a link.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, literal, or_, select, tuple_, update
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.accounts.logins import Login, normalize_email, normalize_phone
from fixflow.accounts.models import Account, Member, MemberCompany, MemberRole, Role
from fixflow.accounts.models_recovery import Invitation
from fixflow.accounts.otp import FAILURE_WINDOW, FAILURES_PER_IP
from fixflow.accounts.permissions import Permission, RoleCode
from fixflow.accounts.recovery import InvalidLink
from fixflow.accounts.service import (
    add_member,
    check_password_strength,
    create_account,
    find_account,
    get_member_for_actor,
    set_password,
)
from fixflow.accounts.throttle import check_throttle, record_hit
from fixflow.config import Settings
from fixflow.core.db import utcnow
from fixflow.core.errors import Conflict, ErrorCollector, Forbidden, ValidationFailed
from fixflow.core.pagination import Page, check_limit, decode_cursor, encode_cursor
from fixflow.core.security import new_token, token_digest
from fixflow.jobs.outbox import emit_event
from fixflow.notifications.email import compose_email, queue_email, resolve_locale
from fixflow.notifications.sms import queue_sms
from fixflow.tenants.models import Company, CompanyKind, Tenant

INVITATION_TTL = dt.timedelta(hours=72)
INVITE_PATH = "/app/invite/"
APP_PATH = "/app/"

_TEXTS: dict[str, dict[str, str]] = {
    "ru": {
        "invite_subject": "Приглашение от {org}",
        "invite_body": "{org} приглашает вас в приложение для заявок на обслуживание. Чтобы войти, "
        "задайте пароль по ссылке — она действует 72 часа.",
        "invite_label": "Задать пароль",
        "invite_sms": "{org}: задайте пароль для входа в приложение заявок (72 ч): {link}",
        "added_subject": "Вы добавлены в {org}",
        "added_body": "{org} добавил вас в приложение для заявок. Входите с прежним паролем.",
        "added_label": "Открыть приложение",
        "added_sms": "{org}: вы добавлены в приложение заявок, вход с прежним паролем: {link}",
        "hello": "Здравствуйте, {name}!",
        "footer": "Если вы не ждали этого письма, просто проигнорируйте его.",
    },
    "en": {
        "invite_subject": "Invitation from {org}",
        "invite_body": "{org} invites you to the service request app. To log in, set your password "
        "with this link — it is valid for 72 hours.",
        "invite_label": "Set my password",
        "invite_sms": "{org}: set your password for the service request app (valid 72 h): {link}",
        "added_subject": "You were added to {org}",
        "added_body": "{org} added you to the service request app. Log in with your usual password.",
        "added_label": "Open the app",
        "added_sms": "{org}: you were added to the service request app, log in with your password: {link}",
        "hello": "Hello, {name}!",
        "footer": "If you did not expect this message, just ignore it.",
    },
}


def invite_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{INVITE_PATH}{token}"


def require_member_manager(actor: Actor) -> None:
    if not actor.can(Permission.MEMBER_MANAGE):
        raise Forbidden("You may not manage members")


def create_member(
    session: Session,
    settings: Settings,
    actor: Actor,
    *,
    email: str | None = None,
    phone: str | None = None,
    last_name: str,
    first_name: str,
    patronymic: str = "",
    position: str = "",
    role_codes: Iterable[str],
    company_ids: Iterable[int] = (),
    invite: bool = True,
    is_mobile: bool = False,
    locale: str | None = None,
) -> Member:
    """A new member of the actor's tenant, invited by e-mail and/or SMS (``invite=False``: silently)."""
    require_member_manager(actor)
    codes, companies = sorted(set(role_codes)), sorted(set(company_ids))
    _check_roles_and_companies(session, actor, codes, companies)
    account = _account_for(session, email=email, phone=phone)
    existing = session.scalar(
        select(Member.id).where(Member.tenant_id == actor.tenant_id, Member.account_id == account.id)
    )
    if existing is not None:
        raise Conflict("This person is already a member of the organisation")
    member = add_member(
        session,
        tenant_id=actor.tenant_id,
        account=account,
        role_codes=codes,
        company_ids=companies,
        last_name=last_name,
        first_name=first_name,
        patronymic=patronymic,
        position=position,
        is_mobile=is_mobile,
    )
    if locale is not None:
        member.locale = resolve_locale(locale)
    emit_event(
        session,
        tenant_id=actor.tenant_id,
        kind="member.created",
        actor_id=actor.member_id,
        payload={"member_id": member.id},
    )
    if invite:
        invite_member(session, settings, member, created_by_id=actor.member_id)
    session.flush()
    return member


def invite_member(
    session: Session, settings: Settings, member: Member, *, created_by_id: int | None = None
) -> None:
    """Links to set the first password; an account that already has one gets a notice instead."""
    account = session.get(Account, member.account_id)
    assert account is not None
    if account.password_hash is None:
        _send_invitations(session, settings, member, account, created_by_id=created_by_id)
    else:
        _send_added_notice(session, settings, member, account)


def _check_roles_and_companies(
    session: Session, actor: Actor, codes: list[str], company_ids: list[int]
) -> None:
    problems = ErrorCollector()
    roles = session.scalars(select(Role).where(Role.tenant_id == actor.tenant_id, Role.code.in_(codes))).all()
    if not codes or len(roles) != len(codes):
        problems.add("role_codes", "Choose existing roles")
    staff = [r for r in roles if r.is_staff]
    if staff and len(staff) != len(roles):
        problems.add("role_codes", "A member is either staff or a customer, not both")
    problems.raise_if_any()
    if staff and not (actor.is_owner or RoleCode.ADMIN in actor.role_codes):
        raise Forbidden("Only administrators may create staff members")
    if RoleCode.OWNER in codes and not actor.is_owner:
        raise Forbidden("Only an owner may create owners")
    kinds = {
        row.id: row.kind
        for row in session.execute(
            select(Company.id, Company.kind).where(
                Company.tenant_id == actor.tenant_id, Company.id.in_(company_ids)
            )
        )
    }
    if len(kinds) != len(company_ids):
        problems.add("company_ids", "Unknown company")
    elif not staff and (not company_ids or any(k != CompanyKind.CUSTOMER for k in kinds.values())):
        problems.add("company_ids", "A customer belongs to one or more customer companies")
    problems.raise_if_any()


def _account_for(session: Session, *, email: str | None, phone: str | None) -> Account:
    """The existing account of these identifiers, else a new one. Another tenant's account is never
    changed: giving it an e-mail or phone it does not have would let this tenant take it over."""
    problems = ErrorCollector()
    norm_email = normalize_email(email) if email else None
    norm_phone = normalize_phone(phone) if phone else None
    if email and not norm_email:
        problems.add("email", "Invalid e-mail address")
    if phone and not norm_phone:
        problems.add("phone", "Invalid phone number")
    if not email and not phone:
        problems.add("email", "An e-mail address or a phone number is required")
    problems.raise_if_any()
    by_email = find_account(session, Login("email", norm_email)) if norm_email else None
    by_phone = find_account(session, Login("phone", norm_phone)) if norm_phone else None
    account = by_email or by_phone
    if account is None:
        return create_account(session, email=norm_email, phone=norm_phone)
    if (norm_email and account.email != norm_email) or (norm_phone and account.phone != norm_phone):
        raise ValidationFailed(
            "This e-mail or phone belongs to an existing account with other contact details"
        )
    return account


def _texts(session: Session, member: Member) -> tuple[dict[str, str], Tenant]:
    tenant = session.get(Tenant, member.tenant_id)
    assert tenant is not None
    return _TEXTS[resolve_locale(member.locale, tenant.default_locale)], tenant


def _greeting(texts: dict[str, str], member: Member) -> str:
    name = " ".join(p for p in (member.first_name, member.patronymic) if p) or member.display_name
    return texts["hello"].format(name=name)


def _void_invitations(
    session: Session, *, member_id: int | None = None, account_id: int | None = None
) -> None:
    stmt = update(Invitation).where(Invitation.accepted_at.is_(None), Invitation.voided_at.is_(None))
    if member_id is not None:
        stmt = stmt.where(Invitation.member_id == member_id)
    if account_id is not None:
        stmt = stmt.where(Invitation.account_id == account_id)
    session.execute(stmt.values(voided_at=utcnow()).execution_options(synchronize_session=False))


def _send_invitations(
    session: Session, settings: Settings, member: Member, account: Account, *, created_by_id: int | None
) -> None:
    _void_invitations(session, member_id=member.id)
    now = utcnow()
    for channel, address in (("email", account.email), ("sms", account.phone)):
        if not address:
            continue
        token = new_token()
        session.add(
            Invitation(
                tenant_id=member.tenant_id,
                member_id=member.id,
                account_id=account.id,
                channel=channel,
                token_hash=token_digest(token),
                created_by_id=created_by_id,
                created_at=now,
                expires_at=now + INVITATION_TTL,
            )
        )
        to = {"email": address} if channel == "email" else {"phone": address}
        _deliver(session, member, "invite", invite_link(settings.base_url, token), **to)
    session.flush()


def _send_added_notice(session: Session, settings: Settings, member: Member, account: Account) -> None:
    link = f"{settings.base_url.rstrip('/')}{APP_PATH}"
    _deliver(session, member, "added", link, email=account.email, phone=account.phone)


def _deliver(
    session: Session,
    member: Member,
    kind: str,
    link: str,
    *,
    email: str | None = None,
    phone: str | None = None,
) -> None:
    """Queue the ``kind`` message ("invite" | "added") in the member's language."""
    texts, tenant = _texts(session, member)
    if email:
        content = compose_email(
            subject=texts[f"{kind}_subject"].format(org=tenant.name),
            paragraphs=[_greeting(texts, member), texts[f"{kind}_body"].format(org=tenant.name)],
            link=link,
            link_label=texts[f"{kind}_label"],
            footer=texts["footer"],
        )
        queue_email(session, to=email, content=content, tenant_id=tenant.id)
    if phone:
        text = texts[f"{kind}_sms"].format(org=tenant.name, link=link)
        queue_sms(session, phone=phone, text=text, tenant_id=tenant.id)


def resend_invitation(session: Session, settings: Settings, actor: Actor, member_id: int) -> Member:
    """New links by every channel of the account; the older links stop working."""
    member, _ = get_member_for_actor(session, actor, member_id)  # not visible → 404 before any 403
    require_member_manager(actor)
    account = session.get(Account, member.account_id)
    assert account is not None
    if member.deleted_at is not None:
        raise Conflict("The member was removed")
    if account.password_hash is not None:
        raise Conflict("This member has already set a password")
    _send_invitations(session, settings, member, account, created_by_id=actor.member_id)
    return member


def check_invitation(session: Session, token: str, *, ip: str = "") -> Member:
    """The member a live invitation link is for (for the «Приглашение» screen), else InvalidLink.

    Failures count towards the same per-IP throttle as a refused acceptance: the screen must not be
    a free oracle for guessed links.
    """
    return _live_invitation(session, token, ip)[1]


def _live_invitation(session: Session, token: str, ip: str) -> tuple[Invitation, Member, Account]:
    keys = {f"invite-fail-ip:{ip}": FAILURES_PER_IP}
    check_throttle(session, keys, FAILURE_WINDOW)
    invitation = session.scalar(select(Invitation).where(Invitation.token_hash == token_digest(token)))
    found = _usable(session, invitation) if invitation is not None else None
    if invitation is None or found is None:
        record_hit(session, *keys)
        raise InvalidLink()
    member, account = found
    if account.password_hash is not None:
        raise Conflict("This account already has a password: log in with it")
    return invitation, member, account


def accept_invitation(session: Session, *, token: str, password: str, ip: str = "") -> Member:
    """Set the first password from an invitation link; returns the member so the caller can log in."""
    check_password_strength(password)  # before the link is looked up, so a weak password spends nothing
    invitation, member, account = _live_invitation(session, token, ip)
    spent = session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id, Invitation.accepted_at.is_(None), Invitation.voided_at.is_(None)
        )
        .values(accepted_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if int(getattr(spent, "rowcount", 0) or 0) != 1:
        raise InvalidLink()
    set_password(session, account, password)
    if invitation.channel == "email":
        account.email_verified = True
    else:
        account.phone_verified = True
    _void_invitations(session, account_id=account.id)  # every other link of this account is moot now
    emit_event(
        session,
        tenant_id=member.tenant_id,
        kind="member.invitation_accepted",
        actor_id=member.id,
        payload={"member_id": member.id},
    )
    session.flush()
    return member


def _usable(session: Session, invitation: Invitation) -> tuple[Member, Account] | None:
    if invitation.accepted_at is not None or invitation.voided_at is not None:
        return None
    if invitation.expires_at <= utcnow():
        return None
    member = session.get(Member, invitation.member_id)
    account = session.get(Account, invitation.account_id)
    if member is None or account is None or member.deleted_at is not None or member.banned or account.banned:
        return None
    return member, account


@dataclass(frozen=True)
class MemberRow:
    member: Member
    account: Account
    role_codes: list[str]
    company_ids: list[int]

    @property
    def status(self) -> Literal["active", "invited", "banned"]:
        if self.member.banned or self.account.banned:
            return "banned"
        return "invited" if self.account.password_hash is None else "active"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_members(
    session: Session,
    actor: Actor,
    *,
    q: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[MemberRow]:
    """Staff only: the tenant's members by name, keyset-paged on (last_name, first_name, id)."""
    if not (actor.is_staff and actor.can(Permission.MEMBER_VIEW)):
        raise Forbidden("You may not list members")
    size = check_limit(limit)
    key = tuple_(Member.last_name, Member.first_name, Member.id)
    stmt = (
        select(Member, Account)
        .join(Account, Account.id == Member.account_id)
        .where(Member.tenant_id == actor.tenant_id, Member.deleted_at.is_(None))
    )
    if q and q.strip():
        pattern = f"%{_escape_like(q.strip().lower())}%"
        terms = [
            func.lower(column).like(pattern, escape="\\")
            for column in (
                Member.last_name,
                Member.first_name,
                Member.patronymic,
                Member.position,
                Account.email,
            )
        ]
        digits = "".join(ch for ch in q if ch.isdigit())
        if len(digits) >= 3:
            terms.append(Account.phone.like(f"%{digits}%"))
        stmt = stmt.where(or_(*terms))
    if cursor:
        last, first, member_id = decode_cursor(cursor, arity=3, kinds=(str, str, int))
        if not (isinstance(last, str) and isinstance(first, str) and isinstance(member_id, int)):
            raise ValidationFailed("The cursor is not valid")
        stmt = stmt.where(key > tuple_(literal(last), literal(first), literal(member_id)))
    rows = session.execute(stmt.order_by(*key.clauses).limit(size + 1)).all()
    page = rows[:size]
    member_ids = [m.id for m, _ in page]
    roles: dict[int, list[str]] = {i: [] for i in member_ids}
    for member_id, code in session.execute(
        select(MemberRole.member_id, Role.code)
        .join(Role, Role.id == MemberRole.role_id)
        .where(MemberRole.member_id.in_(member_ids))
        .order_by(Role.code)
    ):
        roles[member_id].append(code)
    companies: dict[int, list[int]] = {i: [] for i in member_ids}
    for member_id, company_id in session.execute(
        select(MemberCompany.member_id, MemberCompany.company_id)
        .where(MemberCompany.member_id.in_(member_ids))
        .order_by(MemberCompany.company_id)
    ):
        companies[member_id].append(company_id)
    items = [MemberRow(m, a, roles[m.id], companies[m.id]) for m, a in page]
    last_row = page[-1][0] if page else None
    next_cursor = (
        encode_cursor([last_row.last_name, last_row.first_name, last_row.id])
        if len(rows) > size and last_row is not None
        else None
    )
    return Page(items=items, next_cursor=next_cursor)


def member_row(session: Session, member: Member) -> MemberRow:
    account = session.get(Account, member.account_id)
    assert account is not None
    codes = session.scalars(
        select(Role.code)
        .join(MemberRole, MemberRole.role_id == Role.id)
        .where(MemberRole.member_id == member.id)
    ).all()
    company_ids = session.scalars(
        select(MemberCompany.company_id).where(MemberCompany.member_id == member.id)
    ).all()
    return MemberRow(member, account, sorted(codes), sorted(company_ids))
