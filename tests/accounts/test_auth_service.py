"""Logging in and sessions (spec/domain.md §1 accounts): logins, throttling, bans, tokens, tenants."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from builders import PASSWORD, World, make_world, member
from fixflow.accounts.models import Account, AuthSession, Member
from fixflow.accounts.service import (
    TenantChoiceRequired,
    add_member,
    authenticate,
    ban_account,
    create_account,
    find_or_create_account,
    issue_session,
    resolve_session,
    revoke_all_sessions,
    revoke_session,
    set_password,
)
from fixflow.config import Settings
from fixflow.core.db import utcnow
from fixflow.core.errors import Throttled, Unauthenticated, ValidationFailed

PHONE = "+79001234567"


def fresh_ip() -> str:
    return f"198.51.100.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:8]}"  # unique per call: no shared IP hits


def login(
    session: Session,
    settings: Settings,
    who: str,
    password: str = PASSWORD,
    *,
    ip: str | None = None,
    tenant_id: int | None = None,
) -> Member:
    return authenticate(
        session, settings, login=who, password=password, ip=ip or fresh_ip(), tenant_id=tenant_id
    )


def phone_member(session: Session, world: World, phone: str = PHONE) -> Member:
    account = create_account(session, phone=phone, password=PASSWORD)
    return add_member(
        session,
        tenant_id=world.tenant_id,
        account=account,
        role_codes=["customer"],
        company_ids=[world.company_a],
    )


def refused(
    session: Session,
    settings: Settings,
    who: str,
    password: str = PASSWORD,
    *,
    ip: str | None = None,
    tenant_id: int | None = None,
) -> str:
    with pytest.raises(Unauthenticated) as caught:
        login(session, settings, who, password, ip=ip, tenant_id=tenant_id)
    return caught.value.render()


# --- logins -------------------------------------------------------------------------------------------


def test_login_by_email_in_any_case(session: Session, settings: Settings, sworld: World) -> None:
    email = sworld.customer_a.login
    for typed in (email, email.upper(), f"  {email.title()}  "):
        assert login(session, settings, typed).id == sworld.customer_a.id


@pytest.mark.parametrize(
    "typed", ["8 (900) 123-45-67", "+7 900 1234567", "89001234567", "+7 (900) 123-45-67", "79001234567"]
)
def test_login_by_phone_in_usual_formats(
    session: Session, settings: Settings, sworld: World, typed: str
) -> None:
    person = phone_member(session, sworld)
    assert login(session, settings, typed).id == person.id


def test_phone_accounts_are_stored_in_e164(session: Session, sworld: World) -> None:
    person = phone_member(session, sworld, "8 (900) 123-45-67")
    account = session.get(Account, person.account_id)
    assert account is not None and account.phone == PHONE
    # the same number typed differently is the same account
    assert find_or_create_account(session, email=None, phone="+7 900 123 45 67").id == account.id
    assert find_or_create_account(session, email=None, phone="89001234567").id == account.id


def test_wrong_password_and_unknown_login_give_the_same_error(
    session: Session, settings: Settings, sworld: World
) -> None:
    phone_member(session, sworld)
    messages = {
        refused(session, settings, sworld.customer_a.login, "wrong password"),
        refused(session, settings, "nobody-" + sworld.customer_a.login),
        refused(session, settings, "+79990000000"),
        refused(session, settings, PHONE, "wrong password"),
        refused(session, settings, "not a login at all"),
        refused(session, settings, sworld.customer_a.login, ""),
    }
    assert len(messages) == 1


def test_account_without_a_password_cannot_log_in(
    session: Session, settings: Settings, sworld: World
) -> None:
    account = create_account(session, email=f"invited-{sworld.slug}@example.test")
    add_member(session, tenant_id=sworld.tenant_id, account=account, role_codes=["customer"])
    refused(session, settings, account.email or "", "")
    refused(session, settings, account.email or "", PASSWORD)


def test_password_change_takes_effect(session: Session, settings: Settings, sworld: World) -> None:
    account = session.get(Account, sworld.customer_a.actor.account_id)
    assert account is not None
    with pytest.raises(ValidationFailed):
        set_password(session, account, "short")
    set_password(session, account, "a much better pass")
    refused(session, settings, sworld.customer_a.login, PASSWORD)
    assert login(session, settings, sworld.customer_a.login, "a much better pass").id == sworld.customer_a.id


# --- throttling ---------------------------------------------------------------------------------------


def test_failures_per_login_are_throttled(session: Session, settings: Settings, sworld: World) -> None:
    who = sworld.customer_a.login
    for _ in range(settings.login_failures_per_login):
        refused(session, settings, who, "wrong")  # every attempt from another address
    with pytest.raises(Throttled) as caught:
        login(session, settings, who)  # even the right password is refused now
    assert caught.value.status == 429
    assert caught.value.retry_after == settings.login_throttle_window_seconds
    with pytest.raises(Throttled):
        login(session, settings, who.upper())  # the same login however it is typed
    assert login(session, settings, sworld.customer_a2.login).id == sworld.customer_a2.id  # others unaffected


def test_failures_below_the_limit_are_forgiven_by_a_success(
    session: Session, settings: Settings, sworld: World
) -> None:
    who = sworld.customer_a.login
    for _ in range(2):
        for _ in range(settings.login_failures_per_login - 1):
            refused(session, settings, who, "wrong")
        assert login(session, settings, who).id == sworld.customer_a.id  # the success clears the count


def test_failures_per_ip_are_throttled(session: Session, settings: Settings, sworld: World) -> None:
    strict = settings.model_copy(update={"login_failures_per_ip": 3, "login_failures_per_login": 100})
    ip = fresh_ip()
    for key in ("customer_a", "customer_a2", "customer_b"):  # a different login each time
        refused(session, strict, sworld.people[key].login, "wrong", ip=ip)
    with pytest.raises(Throttled):
        login(session, strict, sworld.cadmin_a.login, ip=ip)
    assert login(session, strict, sworld.cadmin_a.login, ip=fresh_ip()).id == sworld.cadmin_a.id


def test_throttling_window_expires(session: Session, settings: Settings, sworld: World) -> None:
    from fixflow.accounts.models import ThrottleHit

    who = sworld.customer_a.login
    for _ in range(settings.login_failures_per_login):
        refused(session, settings, who, "wrong")
    with pytest.raises(Throttled):
        login(session, settings, who)
    long_ago = utcnow() - dt.timedelta(seconds=settings.login_throttle_window_seconds + 1)
    for hit in session.scalars(select(ThrottleHit).where(ThrottleHit.key.like(f"%{who}%"))):
        hit.at = long_ago
    session.flush()
    assert login(session, settings, who).id == sworld.customer_a.id


# --- bans and deleted members -------------------------------------------------------------------------


def test_banned_account_cannot_log_in_and_banning_ends_its_sessions(
    session: Session, settings: Settings, sworld: World
) -> None:
    person = member(session, sworld.customer_a)
    issued = [issue_session(session, settings, person), issue_session(session, settings, person, kind="web")]
    other = issue_session(session, settings, member(session, sworld.customer_a2))
    account = session.get(Account, person.account_id)
    assert account is not None
    ban_account(session, account)
    refused(session, settings, sworld.customer_a.login)
    for item in issued:
        session.refresh(item.session)
        assert item.session.revoked_at is not None
        with pytest.raises(Unauthenticated):
            resolve_session(session, item.token)
    assert resolve_session(session, other.token).actor.member_id == sworld.customer_a2.id


def test_banned_member_cannot_log_in_and_their_sessions_stop_working(
    session: Session, settings: Settings, sworld: World
) -> None:
    person = member(session, sworld.customer_a)
    issued = issue_session(session, settings, person)
    assert resolve_session(session, issued.token).actor.member_id == person.id
    person.banned = True
    session.flush()
    refused(session, settings, sworld.customer_a.login)
    with pytest.raises(Unauthenticated):
        resolve_session(session, issued.token)


def test_deleted_member_cannot_log_in_and_their_sessions_stop_working(
    session: Session, settings: Settings, sworld: World
) -> None:
    person = member(session, sworld.customer_a)
    issued = issue_session(session, settings, person)
    person.deleted_at = utcnow()
    session.flush()
    refused(session, settings, sworld.customer_a.login)
    with pytest.raises(Unauthenticated):
        resolve_session(session, issued.token)


# --- sessions and tokens ------------------------------------------------------------------------------


def test_session_resolves_to_the_member(session: Session, settings: Settings, sworld: World) -> None:
    issued = issue_session(session, settings, member(session, sworld.dispatcher))
    resolved = resolve_session(session, issued.token)
    assert resolved.actor.member_id == sworld.dispatcher.id
    assert resolved.actor.tenant_id == sworld.tenant_id
    assert resolved.auth_session.id == issued.session.id
    for bad in ("", "x", issued.token[:-1], issued.token + "x", issued.session.token_hash):
        with pytest.raises(Unauthenticated):
            resolve_session(session, bad)


def test_revoked_and_expired_sessions_are_rejected(
    session: Session, settings: Settings, sworld: World
) -> None:
    person = member(session, sworld.customer_a)
    revoked = issue_session(session, settings, person)
    expired = issue_session(session, settings, person)
    kept = issue_session(session, settings, person)
    revoke_session(session, revoked.session.id)
    expired.session.expires_at = utcnow() - dt.timedelta(seconds=1)
    session.flush()
    for item in (revoked, expired):
        with pytest.raises(Unauthenticated):
            resolve_session(session, item.token)
    assert resolve_session(session, kept.token).actor.member_id == person.id
    assert kept.session.expires_at > utcnow() + dt.timedelta(days=settings.session_days - 1)


def test_revoke_all_sessions_can_keep_the_current_one(
    session: Session, settings: Settings, sworld: World
) -> None:
    person = member(session, sworld.customer_a)
    current, old = issue_session(session, settings, person), issue_session(session, settings, person)
    revoke_all_sessions(session, person.account_id, except_session_id=current.session.id)
    session.expire_all()
    assert resolve_session(session, current.token).actor.member_id == person.id
    with pytest.raises(Unauthenticated):
        resolve_session(session, old.token)


def test_tokens_are_stored_hashed(session: Session, settings: Settings, sworld: World) -> None:
    issued = issue_session(session, settings, member(session, sworld.customer_a), kind="web")
    assert len(issued.token) >= 40  # 256 bits, url-safe
    row = session.scalar(select(AuthSession).where(AuthSession.id == issued.session.id))
    assert row is not None
    assert row.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    stored = {str(getattr(row, c.key)) for c in AuthSession.__table__.columns}
    assert not any(issued.token in value for value in stored)
    assert row.csrf_token and row.csrf_token != issued.token
    second = issue_session(session, settings, member(session, sworld.customer_a))
    assert second.token != issued.token and second.session.csrf_token == ""


def test_passwords_are_stored_hashed(session: Session, sworld: World) -> None:
    account = session.get(Account, sworld.customer_a.actor.account_id)
    assert account is not None and account.password_hash
    assert PASSWORD not in account.password_hash
    assert account.password_hash.startswith("$argon2id$")


# --- several tenants ----------------------------------------------------------------------------------


def test_account_in_several_tenants_must_pick_one(
    session: Session, settings: Settings, sworld: World
) -> None:
    other = make_world(session)
    account = session.get(Account, sworld.customer_a.actor.account_id)
    assert account is not None
    there = add_member(session, tenant_id=other.tenant_id, account=account, role_codes=["dispatcher"])
    with pytest.raises(TenantChoiceRequired) as caught:
        login(session, settings, sworld.customer_a.login)
    assert caught.value.status == 409
    assert {tid for tid, _ in caught.value.tenants} == {sworld.tenant_id, other.tenant_id}
    assert (
        login(session, settings, sworld.customer_a.login, tenant_id=sworld.tenant_id).id
        == sworld.customer_a.id
    )
    assert login(session, settings, sworld.customer_a.login, tenant_id=other.tenant_id).id == there.id
    third = make_world(session)
    refused(session, settings, sworld.customer_a.login, tenant_id=third.tenant_id)  # not a member there
    # the choice is only offered after the password is right
    refused(session, settings, sworld.customer_a.login, "wrong")


def test_banned_membership_is_not_offered_as_a_choice(
    session: Session, settings: Settings, sworld: World
) -> None:
    other = make_world(session)
    account = session.get(Account, sworld.customer_a.actor.account_id)
    assert account is not None
    there = add_member(session, tenant_id=other.tenant_id, account=account, role_codes=["customer"])
    there.banned = True
    session.flush()
    assert login(session, settings, sworld.customer_a.login).id == sworld.customer_a.id
    refused(session, settings, sworld.customer_a.login, tenant_id=other.tenant_id)
