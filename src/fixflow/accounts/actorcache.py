"""Actors remembered per login token and re-validated inside the request's own first statement.

Authentication is one statement per request; the hottest reads (lists, counters) are one statement
more. On PostgreSQL each statement costs a round trip that weighs more than the SQL itself, so a read
that already knows the actor of its token (this process resolved it before) runs with that actor at
once and adds the **validation** to its first statement as one more column: a fingerprint of
everything the actor was built from — the session still open and unexpired, account and member not
banned or deleted, the member's roles, companies (and, for the company scope, colleagues), names,
language, device, the tenant's time zone and configuration version (which covers role definitions).

The fingerprint reads the rows themselves, never a version someone must remember to bump, so no
write path can forget to invalidate it. When it differs (or the session is gone), the request's result
is thrown away and it runs again with a freshly resolved actor; read sessions never write, so running
twice has no effect. A check no statement could carry (a page with no rows) runs on its own at the end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, String, bindparam, cast, func, literal_column, select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import MAX_LISTED_COLLEAGUES, Actor
from fixflow.accounts.models import Account, AuthSession, Member, MemberCompany, MemberRole
from fixflow.accounts.permissions import Scope
from fixflow.core.configcache import note_config_version
from fixflow.core.db import utcnow
from fixflow.core.prebuilt import CARRIED_CHECK, check_carried
from fixflow.core.sqlfuncs import EMPTY_TEXT, joined_ids
from fixflow.tenants.models import Tenant

T = TypeVar("T")

FINGERPRINT_LABEL = "auth_fingerprint"
# Constants in the SQL text rather than bound: nothing to bind per request.
_BAR = literal_column("'|'", String)
_MAX_REMEMBERED = 10_000  # per process; the oldest goes first (it is then resolved again)


def _fingerprint_column(*, with_colleagues: bool) -> ColumnElement[str]:
    """NULL when the token no longer authenticates; else ``version|tz|roles|companies|colleagues|…``.

    Every part is keyed by the token hash (no correlation to the statement carrying it), so PostgreSQL
    computes it once per statement, whatever the statement.
    """
    member_of_token = (
        select(AuthSession.member_id)
        .where(AuthSession.token_hash == bindparam("auth_token_hash"))
        .scalar_subquery()
    )
    colleagues: ColumnElement[str] = EMPTY_TEXT
    if with_colleagues:
        my_companies = select(MemberCompany.company_id).where(MemberCompany.member_id == member_of_token)
        # The same first colleagues (by id) as the actor lists; beyond the limit it lists none.
        firsts = (
            select(MemberCompany.member_id)
            .where(MemberCompany.company_id.in_(my_companies))
            .distinct()
            .order_by(MemberCompany.member_id)
            .limit(MAX_LISTED_COLLEAGUES + 1)
            .subquery()
        )
        colleagues = joined_ids(firsts.c.member_id)
    text = (
        cast(Tenant.config_version, String)
        + _BAR
        + Tenant.timezone
        + _BAR
        + joined_ids(MemberRole.role_id, MemberRole.member_id == member_of_token)
        + _BAR
        + joined_ids(MemberCompany.company_id, MemberCompany.member_id == member_of_token)
        + _BAR
        + colleagues
        + _BAR
        + func.coalesce(Member.locale, EMPTY_TEXT)
        + _BAR
        + cast(Member.is_mobile, String)
        + _BAR
        + Member.last_name
        + _BAR
        + Member.first_name
        + _BAR
        + Member.patronymic
    )
    return (
        select(text)
        .select_from(AuthSession)
        .join(Member, Member.id == AuthSession.member_id)
        .join(Account, Account.id == AuthSession.account_id)
        .join(Tenant, Tenant.id == Member.tenant_id)
        .where(
            AuthSession.token_hash == bindparam("auth_token_hash"),
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > bindparam("auth_now", type_=AuthSession.expires_at.type),
            ~Account.banned,
            ~Member.banned,
            Member.deleted_at.is_(None),
        )
        .scalar_subquery()
        .label(FINGERPRINT_LABEL)
    )


# Built once each: the column is part of the carrying statement's shape (compiled once per pair).
FINGERPRINT_WITH_COLLEAGUES = _fingerprint_column(with_colleagues=True)
_FINGERPRINT_LIGHT = _fingerprint_column(with_colleagues=False)


@dataclass(frozen=True)
class Fingerprint:
    config_version: int
    timezone: str
    role_ids: frozenset[str]
    company_ids: frozenset[str]
    colleague_ids: frozenset[str]
    rest: str  # language, device, names: compared as they are

    @classmethod
    def parse(cls, text: str | None) -> Fingerprint | None:
        if text is None:
            return None
        # Nothing before the names can hold "|" (numbers, a time zone name, a language code).
        version, timezone, roles, companies, colleagues, rest = text.split("|", 5)
        return cls(int(version), timezone, _ids(roles), _ids(companies), _ids(colleagues), rest)

    def matches(self, other: Fingerprint, *, with_colleagues: bool) -> bool:
        if with_colleagues:
            return self == other
        return self == Fingerprint(
            other.config_version,
            other.timezone,
            other.role_ids,
            other.company_ids,
            self.colleague_ids,
            other.rest,
        )


def _ids(joined: str) -> frozenset[str]:
    return frozenset(joined.split(",")) if joined else frozenset()


class StaleActor(Exception):
    """The remembered actor no longer matches its rows: the request runs again, freshly resolved."""


def needs_colleagues(actor: Actor) -> bool:
    """Whether the actor was built with colleagues (see ``accounts.actor.build_actor``)."""
    return bool(actor.company_ids) and actor.has_scope(Scope.COMPANY) and not actor.has_scope(Scope.ALL)


@dataclass(frozen=True)
class Remembered:
    authenticated: Any  # accounts.service.Authenticated (imported lazily: service imports this module)
    fingerprint: Fingerprint
    with_colleagues: bool


class _ActorCheck:
    """The pending validation of a remembered actor, carried by the request's first statement."""

    label = FINGERPRINT_LABEL

    def __init__(self, token_hash: str, remembered: Remembered) -> None:
        self.remembered = remembered
        self.column = FINGERPRINT_WITH_COLLEAGUES if remembered.with_colleagues else _FINGERPRINT_LIGHT
        self.params = {"auth_token_hash": token_hash, "auth_now": utcnow()}

    def accept(self, value: Any) -> None:
        found = Fingerprint.parse(value)
        expected = self.remembered.fingerprint
        if found is None or not expected.matches(found, with_colleagues=self.remembered.with_colleagues):
            raise StaleActor()


# token hash → what it resolved to. A plain dict: single operations are atomic under the GIL.
_remembered: dict[str, Remembered] = {}
_evicting = threading.Lock()  # one evicting thread at a time (threads of the SQLite path)


def remember(token_hash: str, authenticated: Any, fingerprint_text: str | None) -> None:
    fingerprint = Fingerprint.parse(fingerprint_text)
    if fingerprint is None:
        return
    if len(_remembered) >= _MAX_REMEMBERED:
        with _evicting:
            while len(_remembered) >= _MAX_REMEMBERED:
                try:
                    oldest = next(iter(_remembered))
                except (RuntimeError, StopIteration):  # another thread changed it meanwhile: look again
                    continue
                _remembered.pop(oldest, None)
    actor: Actor = authenticated.actor
    _remembered[token_hash] = Remembered(authenticated, fingerprint, needs_colleagues(actor))


def forget(token_hash: str) -> None:
    _remembered.pop(token_hash, None)


def run_as_remembered(
    factory: Callable[[], Session], token_hash: str, work: Callable[[Session, Any], T]
) -> tuple[bool, T | None]:
    """``(True, result)`` of ``work`` run with this token's remembered authentication (an
    ``accounts.service.Authenticated``), validated; else ``(False, None)``: nothing remembered, or
    it no longer holds (then forgotten)."""
    remembered = _remembered.get(token_hash)
    if remembered is None:
        return False, None
    actor: Actor = remembered.authenticated.actor
    with factory() as session:
        note_config_version(session, actor.tenant_id, remembered.fingerprint.config_version)
        session.info[CARRIED_CHECK] = _ActorCheck(token_hash, remembered)
        try:
            result = work(session, remembered.authenticated)
            check_carried(session)
        except StaleActor:
            forget(token_hash)
            return False, None
        except Exception:
            session.rollback()
            try:
                check_carried(session)  # an error met with a stale actor is no answer either
            except StaleActor:
                forget(token_hash)
                return False, None
            raise
    return True, result
