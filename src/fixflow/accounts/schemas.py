from __future__ import annotations

from pydantic import Field

from fixflow.core.schemas import Input, Output, RefOut


class LoginRequest(Input):
    login: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=500)
    tenant_id: int | None = None


class MemberOut(Output):
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


class LoginResponse(Output):
    token: str
    member: MemberOut


class MeOut(Output):
    member: MemberOut
    tenant: RefOut
    roles: list[str]
    companies: list[RefOut]
    permissions: list[str]
    scopes: list[str]
    is_staff: bool
    locale: str


class ExecutorRatingOut(Output):
    average: float | None
    rated_tickets: int


class MemberPublicOut(Output):
    id: int
    name: str
    position: str
    phone: str | None
    is_mobile: bool
    roles: list[str]
    rating: ExecutorRatingOut | None
