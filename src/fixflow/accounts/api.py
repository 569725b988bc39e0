"""Authentication and the acting member: /auth/login, /auth/logout, /me, /members/{id}."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.accounts import schemas
from fixflow.accounts.logins import format_phone
from fixflow.accounts.models import Account, Member, MemberRole, Role
from fixflow.accounts.service import authenticate, get_member_for_actor, issue_session, revoke_session
from fixflow.config import Settings
from fixflow.core.http import CurrentActor, CurrentAuth, DbSession, get_settings_dep, reject_unknown_query
from fixflow.core.schemas import RefOut
from fixflow.ratings.service import executor_rating
from fixflow.tenants.models import Company, Tenant

router = APIRouter(tags=["auth"], dependencies=[Depends(reject_unknown_query)])


def member_out(session: Session, member: Member) -> schemas.MemberOut:
    account = session.get(Account, member.account_id)
    assert account is not None
    return schemas.MemberOut(
        id=member.id,
        tenant_id=member.tenant_id,
        name=member.display_name,
        last_name=member.last_name,
        first_name=member.first_name,
        patronymic=member.patronymic,
        position=member.position,
        email=account.email,
        phone=account.phone,
        is_mobile=member.is_mobile,
    )


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


@router.post("/auth/login", response_model=schemas.LoginResponse)
def login(
    request: Request,
    body: schemas.LoginRequest,
    session: DbSession,
    settings: Settings = Depends(get_settings_dep),
) -> schemas.LoginResponse:
    member = authenticate(
        session,
        settings,
        login=body.login,
        password=body.password,
        tenant_id=body.tenant_id,
        ip=client_ip(request),
    )
    issued = issue_session(
        session, settings, member, kind="api", user_agent=request.headers.get("user-agent", "")
    )
    return schemas.LoginResponse(token=issued.token, member=member_out(session, member))


@router.post("/auth/logout", status_code=204)
def logout(session: DbSession, auth: CurrentAuth) -> Response:
    revoke_session(session, auth.auth_session.id)
    return Response(status_code=204)


@router.get("/me", response_model=schemas.MeOut)
def me(session: DbSession, actor: CurrentActor) -> schemas.MeOut:
    member = session.get(Member, actor.member_id)
    tenant = session.get(Tenant, actor.tenant_id)
    assert member is not None and tenant is not None
    companies = session.scalars(
        select(Company).where(Company.id.in_(actor.company_ids)).order_by(Company.name)
    ).all()
    return schemas.MeOut(
        member=member_out(session, member),
        tenant=RefOut(id=tenant.id, name=tenant.name),
        roles=sorted(actor.role_codes),
        companies=[RefOut(id=c.id, name=c.name) for c in companies],
        permissions=sorted(actor.permissions),
        scopes=sorted(actor.scopes),
        is_staff=actor.is_staff,
        locale=member.locale or tenant.default_locale,
    )


@router.get("/members/{member_id}", response_model=schemas.MemberPublicOut, tags=["members"])
def get_member(member_id: int, session: DbSession, actor: CurrentActor) -> schemas.MemberPublicOut:
    member, _ = get_member_for_actor(session, actor, member_id)
    roles = session.scalars(
        select(Role.code)
        .join(MemberRole, MemberRole.role_id == Role.id)
        .where(MemberRole.member_id == member.id)
    ).all()
    account = session.get(Account, member.account_id)
    rating = executor_rating(session, member.id) if member.is_mobile else None
    return schemas.MemberPublicOut(
        id=member.id,
        name=member.display_name,
        position=member.position,
        phone=format_phone(account.phone) if account and account.phone else None,
        is_mobile=member.is_mobile,
        roles=sorted(roles),
        rating=schemas.ExecutorRatingOut(average=rating.average, rated_tickets=rating.rated_tickets)
        if rating
        else None,
    )
