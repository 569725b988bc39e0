"""The acting member of a request or job, loaded once and passed to every service call."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from fixflow.accounts.models import Member, MemberCompany, MemberRole, Role
from fixflow.accounts.permissions import Permission, RoleCode, Scope
from fixflow.core.prebuilt import prebuilt_rows
from fixflow.workflow.engine import ActorFacts


@dataclass(frozen=True)
class Actor:
    member_id: int
    tenant_id: int
    account_id: int
    display_name: str
    locale: str | None
    is_mobile: bool
    role_ids: frozenset[int]
    role_codes: frozenset[str]
    permissions: frozenset[str]
    scopes: frozenset[str]
    company_ids: frozenset[int]
    is_staff: bool
    # Members of ``company_ids`` when the actor has the company scope and they are few enough to be
    # listed in a query (an ``IN`` list lets PostgreSQL combine indexes; a subquery in an OR does not).
    colleague_ids: frozenset[int] | None = None

    def can(self, permission: Permission) -> bool:
        return permission.value in self.permissions

    def has_scope(self, scope: Scope) -> bool:
        return scope.value in self.scopes

    @property
    def is_owner(self) -> bool:
        return RoleCode.OWNER in self.role_codes

    @property
    def is_customer_admin(self) -> bool:
        return RoleCode.CUSTOMER_ADMIN in self.role_codes

    def facts(self) -> ActorFacts:
        return ActorFacts(
            member_id=self.member_id,
            role_ids=self.role_ids,
            role_codes=self.role_codes,
            is_staff=self.is_staff,
            company_ids=self.company_ids,
            may_move_anywhere=self.can(Permission.TICKET_ANY_STAGE),
            any_main_transition=bool(self.role_codes & {RoleCode.OWNER, RoleCode.ADMIN, RoleCode.DISPATCHER}),
        )


MAX_LISTED_COLLEAGUES = 500
# Built once: every request of a customer admin runs it.
_COLLEAGUES = (
    select(MemberCompany.member_id)
    .where(MemberCompany.company_id.in_(bindparam("companies", expanding=True)))
    .distinct()
    .limit(MAX_LISTED_COLLEAGUES + 1)
)


@dataclass(frozen=True)
class RoleGrant:
    id: int
    code: str
    is_staff: bool
    permissions: list[str]
    scopes: list[str]


@dataclass(frozen=True)
class MemberFacts:
    id: int
    tenant_id: int
    account_id: int
    display_name: str
    locale: str | None
    is_mobile: bool


def load_actor(session: Session, member: Member) -> Actor:
    roles = [
        RoleGrant(*row)
        for row in session.execute(
            select(Role.id, Role.code, Role.is_staff, Role.permissions, Role.scopes)
            .join(MemberRole, MemberRole.role_id == Role.id)
            .where(MemberRole.member_id == member.id)
        )
    ]
    company_ids = session.scalars(
        select(MemberCompany.company_id).where(MemberCompany.member_id == member.id)
    ).all()
    facts = MemberFacts(
        member.id, member.tenant_id, member.account_id, member.display_name, member.locale, member.is_mobile
    )
    return build_actor(session, facts, roles, set(company_ids))


def build_actor(
    session: Session, member: MemberFacts, roles: list[RoleGrant], company_ids: set[int]
) -> Actor:
    permissions: set[str] = set()
    scopes: set[str] = set()
    for role in roles:
        permissions.update(role.permissions)
        scopes.update(role.scopes)
    is_staff = any(role.is_staff for role in roles)
    if not is_staff:
        scopes.discard(Scope.ALL.value)  # customers never get "all", whatever a tenant configures
    colleague_ids = None
    if company_ids and Scope.COMPANY.value in scopes and Scope.ALL.value not in scopes:
        found = [row[0] for row in prebuilt_rows(session, _COLLEAGUES, {"companies": sorted(company_ids)})]
        if len(found) <= MAX_LISTED_COLLEAGUES:
            colleague_ids = frozenset(found)
    return Actor(
        member_id=member.id,
        tenant_id=member.tenant_id,
        account_id=member.account_id,
        display_name=member.display_name,
        locale=member.locale,
        is_mobile=member.is_mobile,
        role_ids=frozenset(r.id for r in roles),
        role_codes=frozenset(r.code for r in roles),
        permissions=frozenset(permissions),
        scopes=frozenset(scopes),
        company_ids=frozenset(company_ids),
        is_staff=is_staff,
        colleague_ids=colleague_ids,
    )
