"""REST: password recovery, login by SMS code, accepting invitations, own password and preferences."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field, model_validator

from fixflow.accounts import schemas
from fixflow.accounts.api import client_ip, member_out
from fixflow.accounts.invitations import accept_invitation
from fixflow.accounts.otp import CODE_TTL, RESEND_AFTER, login_with_code, request_login_code
from fixflow.accounts.preferences import Preferences, get_preferences, update_preferences
from fixflow.accounts.recovery import (
    RESET_LINK_TTL,
    change_password,
    check_reset_token,
    request_password_reset,
    reset_password_with_code,
    reset_password_with_token,
)
from fixflow.accounts.service import issue_session
from fixflow.config import Settings
from fixflow.core.http import CurrentActor, CurrentAuth, DbSession, get_settings_dep, reject_unknown_query
from fixflow.core.schemas import Input, Output

router = APIRouter(tags=["auth"], dependencies=[Depends(reject_unknown_query)])

Locale = Literal["ru", "en"]
SENT_IF_EXISTS = (
    "If an account with this login exists, a message has been sent to it. "
    "You can ask for another one in {seconds} seconds."
)


class SmsCodeRequest(Input):
    phone: str = Field(min_length=1, max_length=40)
    locale: Locale | None = None


class LoginCodeRequest(Input):
    phone: str = Field(min_length=1, max_length=40)
    code: str = Field(min_length=1, max_length=12)
    tenant_id: int | None = None


class PasswordResetRequest(Input):
    login: str = Field(min_length=1, max_length=254)
    locale: Locale | None = None


class ResetTokenCheck(Input):
    token: str = Field(min_length=1, max_length=200)


class PasswordResetConfirm(Input):
    """Either ``token`` (from the e-mailed link) or ``phone`` + ``code`` (from the SMS)."""

    token: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, min_length=1, max_length=40)
    code: str | None = Field(default=None, min_length=1, max_length=12)
    password: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _one_way(self) -> PasswordResetConfirm:
        by_token = self.token is not None and self.phone is None and self.code is None
        by_code = self.token is None and self.phone is not None and self.code is not None
        if not (by_token or by_code):
            raise ValueError("Send either token, or phone and code")
        return self


class InvitationAccept(Input):
    token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=500)


class PasswordChange(Input):
    current_password: str = Field(min_length=1, max_length=500)
    new_password: str = Field(min_length=1, max_length=500)


class RequestAcceptedOut(Output):
    """The same for every login: it never says whether the account exists."""

    detail: str
    resend_after_seconds: int
    expires_in_seconds: int


class ChannelsIn(Input):
    in_app: bool | None = None
    email: bool | None = None
    sms: bool | None = None


class EventsIn(Input):
    created: ChannelsIn | None = None
    status_changed: ChannelsIn | None = None
    approval_requested: ChannelsIn | None = None
    work_submitted: ChannelsIn | None = None
    message_posted: ChannelsIn | None = None


class PreferencesIn(Input):
    """Only what is sent changes; absent events, channels and ``locale`` stay as they are."""

    events: EventsIn | None = None
    locale: Locale | None = None


class ChannelsOut(Output):
    in_app: bool
    email: bool
    sms: bool


class EventsOut(Output):
    created: ChannelsOut
    status_changed: ChannelsOut
    approval_requested: ChannelsOut
    work_submitted: ChannelsOut
    message_posted: ChannelsOut


class PreferencesOut(Output):
    events: EventsOut
    locale: Locale
    locale_is_default: bool


def _accepted(expires_in: int) -> RequestAcceptedOut:
    seconds = int(RESEND_AFTER.total_seconds())
    return RequestAcceptedOut(
        detail=SENT_IF_EXISTS.format(seconds=seconds),
        resend_after_seconds=seconds,
        expires_in_seconds=expires_in,
    )


@router.post("/auth/sms-code", response_model=RequestAcceptedOut, status_code=202)
def sms_code(
    request: Request, body: SmsCodeRequest, session: DbSession, settings: Settings = Depends(get_settings_dep)
) -> RequestAcceptedOut:
    request_login_code(session, settings, phone=body.phone, ip=client_ip(request), locale=body.locale)
    return _accepted(int(CODE_TTL.total_seconds()))


@router.post("/auth/login-code", response_model=schemas.LoginResponse)
def login_code(
    request: Request,
    body: LoginCodeRequest,
    session: DbSession,
    settings: Settings = Depends(get_settings_dep),
) -> schemas.LoginResponse:
    member = login_with_code(
        session, settings, phone=body.phone, code=body.code, tenant_id=body.tenant_id, ip=client_ip(request)
    )
    issued = issue_session(
        session, settings, member, kind="api", user_agent=request.headers.get("user-agent", "")
    )
    return schemas.LoginResponse(token=issued.token, member=member_out(session, member))


@router.post("/auth/password-reset", response_model=RequestAcceptedOut, status_code=202)
def password_reset(
    request: Request,
    body: PasswordResetRequest,
    session: DbSession,
    settings: Settings = Depends(get_settings_dep),
) -> RequestAcceptedOut:
    request_password_reset(session, settings, login=body.login, ip=client_ip(request), locale=body.locale)
    # Both lifetimes are public facts; which one applies follows from the login's format only.
    ttl = RESET_LINK_TTL if "@" in body.login else CODE_TTL
    return _accepted(int(ttl.total_seconds()))


@router.post("/auth/password-reset/check", status_code=204)
def password_reset_check(request: Request, body: ResetTokenCheck, session: DbSession) -> Response:
    check_reset_token(session, body.token, ip=client_ip(request))
    return Response(status_code=204)


@router.post("/auth/password-reset/confirm", status_code=204)
def password_reset_confirm(request: Request, body: PasswordResetConfirm, session: DbSession) -> Response:
    if body.token is not None:
        reset_password_with_token(
            session, token=body.token, new_password=body.password, ip=client_ip(request)
        )
    else:
        assert body.phone is not None and body.code is not None
        reset_password_with_code(
            session, phone=body.phone, code=body.code, new_password=body.password, ip=client_ip(request)
        )
    return Response(status_code=204)


@router.post("/auth/invitations/accept", response_model=schemas.LoginResponse)
def invitation_accept(
    request: Request,
    body: InvitationAccept,
    session: DbSession,
    settings: Settings = Depends(get_settings_dep),
) -> schemas.LoginResponse:
    member = accept_invitation(session, token=body.token, password=body.password, ip=client_ip(request))
    issued = issue_session(
        session, settings, member, kind="api", user_agent=request.headers.get("user-agent", "")
    )
    return schemas.LoginResponse(token=issued.token, member=member_out(session, member))


@router.post("/me/password", status_code=204, tags=["me"])
def me_password(body: PasswordChange, session: DbSession, auth: CurrentAuth) -> Response:
    change_password(
        session,
        auth.actor,
        current_password=body.current_password,
        new_password=body.new_password,
        keep_session_id=auth.auth_session.id,
    )
    return Response(status_code=204)


def _preferences_out(prefs: Preferences) -> PreferencesOut:
    return PreferencesOut.model_validate(
        {"events": prefs.events, "locale": prefs.locale, "locale_is_default": prefs.locale_is_default}
    )


@router.get("/me/preferences", response_model=PreferencesOut, tags=["me"])
def me_preferences(session: DbSession, actor: CurrentActor) -> PreferencesOut:
    return _preferences_out(get_preferences(session, actor))


@router.put("/me/preferences", response_model=PreferencesOut, tags=["me"])
def me_preferences_update(body: PreferencesIn, session: DbSession, actor: CurrentActor) -> PreferencesOut:
    events = body.events.model_dump(exclude_none=True) if body.events else None
    prefs = update_preferences(session, actor, events=events, locale=body.locale)
    return _preferences_out(prefs)
