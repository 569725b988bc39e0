"""REST: staff create members (with an invitation), resend invitations, list members."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import Field

from fixflow.accounts.invitations import MemberRow, create_member, list_members, member_row, resend_invitation
from fixflow.config import Settings
from fixflow.core.http import CurrentActor, DbSession, JSONResponse, get_settings_dep, reject_unknown_query
from fixflow.core.idempotency import create_once
from fixflow.core.schemas import Input, Output

router = APIRouter(prefix="/members", tags=["members"], dependencies=[Depends(reject_unknown_query)])


class MemberCreate(Input):
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    last_name: str = Field(min_length=1, max_length=100)
    first_name: str = Field(min_length=1, max_length=100)
    patronymic: str = Field(default="", max_length=100)
    position: str = Field(default="", max_length=200)
    role_codes: list[str] = Field(min_length=1, max_length=10)
    company_ids: list[int] = Field(default_factory=list, max_length=100)
    is_mobile: bool = False
    locale: Literal["ru", "en"] | None = None
    invite: bool = True


class MemberAdminOut(Output):
    id: int
    tenant_id: int
    name: str
    last_name: str
    first_name: str
    patronymic: str
    position: str
    email: str | None
    phone: str | None
    is_mobile: bool
    locale: str | None
    roles: list[str]
    company_ids: list[int]
    status: Literal["active", "invited", "banned"]
    created_at: dt.datetime


class MemberAdminPage(Output):
    items: list[MemberAdminOut]
    next_cursor: str | None


def member_admin_out(row: MemberRow) -> MemberAdminOut:
    m, a = row.member, row.account
    return MemberAdminOut(
        id=m.id,
        tenant_id=m.tenant_id,
        name=m.display_name,
        last_name=m.last_name,
        first_name=m.first_name,
        patronymic=m.patronymic,
        position=m.position,
        email=a.email,
        phone=a.phone,
        is_mobile=m.is_mobile,
        locale=m.locale,
        roles=row.role_codes,
        company_ids=row.company_ids,
        status=row.status,
        created_at=m.created_at,
    )


def _payload(row: MemberRow) -> dict[str, object]:
    return member_admin_out(row).model_dump(mode="json")


@router.post("", response_model=MemberAdminOut, status_code=201)
def create_member_endpoint(
    body: MemberCreate,
    session: DbSession,
    actor: CurrentActor,
    settings: Settings = Depends(get_settings_dep),
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    def create() -> dict[str, Any]:
        member = create_member(
            session,
            settings,
            actor,
            email=body.email,
            phone=body.phone,
            last_name=body.last_name,
            first_name=body.first_name,
            patronymic=body.patronymic,
            position=body.position,
            role_codes=body.role_codes,
            company_ids=body.company_ids,
            invite=body.invite,
            is_mobile=body.is_mobile,
            locale=body.locale,
        )
        return _payload(member_row(session, member))

    status, payload = create_once(
        session, actor, idempotency_key, path="/members", body=body.model_dump(mode="json"), create=create
    )
    return JSONResponse(payload, status_code=status)


@router.post("/{member_id}/invitation", response_model=MemberAdminOut, status_code=202)
def resend_invitation_endpoint(
    member_id: int, session: DbSession, actor: CurrentActor, settings: Settings = Depends(get_settings_dep)
) -> Response:
    member = resend_invitation(session, settings, actor, member_id)
    return JSONResponse(_payload(member_row(session, member)), status_code=202)


@router.get("", response_model=MemberAdminPage)
def list_members_endpoint(
    session: DbSession,
    actor: CurrentActor,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: int | None = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    page = list_members(session, actor, q=q, limit=limit, cursor=cursor)
    body = MemberAdminPage(items=[member_admin_out(r) for r in page.items], next_cursor=page.next_cursor)
    return JSONResponse(body.model_dump(mode="json"))
