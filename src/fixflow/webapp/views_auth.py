"""Signing in and out of the customer app, and the language switch for anonymous visitors."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from fixflow.accounts.models import Member
from fixflow.accounts.service import TenantChoiceRequired, authenticate, issue_session, revoke_session
from fixflow.core.errors import DomainError, Throttled
from fixflow.core.i18n import N_, normalize_locale
from fixflow.webapp import forms
from fixflow.webapp.forms import NO_ERRORS
from fixflow.webapp.web import (
    HOME_URL,
    LANG_COOKIE,
    LOGIN_URL,
    SESSION_COOKIE,
    YEAR,
    AnyWeb,
    CheckedForm,
    UserWeb,
    Web,
    WebRoute,
    safe_next,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)

NOTICES = {
    "password_reset": N_("Your password has been changed. Sign in with the new one."),
    "signed_out": N_("You have signed out."),
}


def start_session(web: Web, member: Member, next_url: str | None = None) -> Response:
    """Issue a web session (with its CSRF secret) and put its token in an HttpOnly cookie."""
    issued = issue_session(
        web.session,
        web.settings,
        member,
        kind="web",
        user_agent=web.request.headers.get("user-agent", ""),
    )
    web.set_cookie(SESSION_COOKIE, issued.token, web.settings.session_days * 24 * 3600)
    return web.redirect(safe_next(next_url))


@router.get("/app")
@router.get("/app/")
def app_root(web: AnyWeb) -> Response:
    return web.redirect(HOME_URL if web.auth else LOGIN_URL)


@router.get("/app/login")
def login_page(web: AnyWeb, next: str = "", done: str = "") -> Response:
    if web.auth is not None:
        return web.redirect(safe_next(next))
    notice = web.gettext(NOTICES[done]) if done in NOTICES else None
    return web.render(
        "app/login.html", login="", password="", tenants=[], errors=NO_ERRORS, next=next, notice=notice
    )


@router.post("/app/login")
def login_submit(web: AnyWeb, form: CheckedForm) -> Response:
    login = forms.text(form, "login", max_length=254).strip()
    password = forms.text(form, "password", max_length=500)
    next_url = forms.text(form, "next", max_length=2000)
    tenant_id = forms.optional_int(form, "tenant_id")
    tenants: list[tuple[int, str]] = []
    try:
        # Not in a savepoint: a failed attempt must stay recorded for the throttle.
        member = authenticate(
            web.session, web.settings, login=login, password=password, tenant_id=tenant_id, ip=web.client_ip
        )
    except TenantChoiceRequired as choice:
        tenants = choice.tenants
        errors = NO_ERRORS
    except DomainError as exc:
        errors = web.form_errors(exc, ())
        refused = web.render(
            "app/login.html",
            status_code=429 if isinstance(exc, Throttled) else 401,
            login=login,
            password="",
            tenants=[],
            errors=errors,
            next=next_url,
            notice=None,
        )
        if isinstance(exc, Throttled):
            refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    else:
        return start_session(web, member, next_url)
    response = web.render(
        "app/login.html",
        login=login,
        password=password,
        tenants=tenants,
        errors=errors,
        next=next_url,
        notice=None,
    )
    response.headers["Cache-Control"] = "no-store"  # the page carries the typed password forward
    return response


@router.post("/app/logout")
def logout(web: UserWeb, form: CheckedForm) -> Response:
    assert web.auth is not None
    revoke_session(web.session, web.auth.auth_session.id)
    web.drop_session_cookie = True
    return web.redirect(LOGIN_URL + "?done=signed_out")


@router.post("/app/lang")
def switch_language(web: AnyWeb, form: CheckedForm) -> Response:
    locale = normalize_locale(forms.text(form, "lang", max_length=8)) or web.locale
    web.set_cookie(LANG_COOKIE, locale, YEAR)
    target = forms.text(form, "next", max_length=2000)
    return web.redirect(safe_next(target, LOGIN_URL))
