"""«Забыли пароль», «Новый пароль», «Приглашение» and «Войти по коду из SMS».

The screens never reveal whether an account exists: after a request they say the same thing for
every well-formed login (spec/customer-app.md, behaviour 10).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from fastapi.responses import Response

from fixflow.accounts.invitations import accept_invitation, check_invitation
from fixflow.accounts.logins import format_phone, normalize_phone, parse_login
from fixflow.accounts.otp import login_with_code, request_login_code
from fixflow.accounts.recovery import (
    check_reset_token,
    request_password_reset,
    reset_password_with_code,
    reset_password_with_token,
)
from fixflow.accounts.service import TenantChoiceRequired
from fixflow.core.errors import DomainError, ValidationFailed
from fixflow.webapp import forms
from fixflow.webapp.forms import NO_ERRORS, FormErrors
from fixflow.webapp.views_auth import start_session
from fixflow.webapp.web import AnyWeb, CheckedForm, Web, WebRoute, attempt

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PASSWORD_FIELDS = ("password", "password2")


def _status(exc: DomainError) -> int:
    return 422 if exc.status in (400, 401, 409) else exc.status


# --- Забыли пароль ------------------------------------------------------------------------------------
@router.get("/app/forgot")
def forgot_page(web: AnyWeb, sent: str = "") -> Response:
    notice = (
        web.gettext(
            "If an account with this e-mail exists, we have sent a link to set a new password. "
            "The link is valid for 30 minutes."
        )
        if sent == "email"
        else None
    )
    return web.render("app/forgot.html", login="", errors=NO_ERRORS, notice=notice)


@router.post("/app/forgot")
def forgot_submit(web: AnyWeb, form: CheckedForm) -> Response:
    login = forms.text(form, "login", max_length=254).strip()
    try:
        parsed = parse_login(login)
        attempt(
            web.session,
            lambda: request_password_reset(
                web.session, web.settings, login=login, ip=web.client_ip, locale=web.locale
            ),
        )
    except DomainError as exc:
        errors = _login_problem(web, exc)
        return web.render(
            "app/forgot.html", status_code=_status(exc), login=login, errors=errors, notice=None
        )
    if parsed.kind == "phone":
        return web.redirect("/app/forgot/code?phone=" + quote(parsed.value) + "&sent=1")
    return web.redirect("/app/forgot?sent=email")


def _login_problem(web: Web, exc: DomainError) -> FormErrors:
    if isinstance(exc, ValidationFailed) and not exc.errors:
        return FormErrors(fields={"login": web.error_text(exc)})
    return web.form_errors(exc, ("login",))


@router.get("/app/forgot/code")
def forgot_code_page(web: AnyWeb, phone: str = "", sent: str = "") -> Response:
    return _code_form(web, phone, "", NO_ERRORS, sent=bool(sent))


def _code_form(
    web: Web, phone: str, code: str, errors: FormErrors, *, sent: bool, status: int = 200
) -> Response:
    e164 = normalize_phone(phone)
    return web.render(
        "app/forgot_code.html",
        status_code=status,
        phone=e164 or phone,
        phone_display=format_phone(e164) if e164 else phone,
        code=code,
        errors=errors,
        sent=sent,
    )


@router.post("/app/forgot/code")
def forgot_code_submit(web: AnyWeb, form: CheckedForm) -> Response:
    phone = forms.text(form, "phone", max_length=40)
    code = forms.text(form, "code", max_length=12).strip()
    try:
        password = forms.new_password(form)
        attempt(
            web.session,
            lambda: reset_password_with_code(
                web.session, phone=phone, code=code, new_password=password, ip=web.client_ip
            ),
        )
    except DomainError as exc:
        errors = web.form_errors(exc, ("code", *PASSWORD_FIELDS))
        return _code_form(web, phone, code, errors, sent=False, status=_status(exc))
    return web.redirect("/app/login?done=password_reset")


# --- Новый пароль (link from the e-mail) ----------------------------------------------------------
def _link_page(web: Web, template: str, token: str, check: Callable[[], object]) -> Response:
    """A screen opened from a one-time link: its form, or, for a spent, voided or expired link, why
    not, before anyone types a password into it."""
    try:
        attempt(web.session, check)
    except DomainError as exc:
        errors = web.form_errors(exc, ())
        return web.render(template, status_code=_status(exc), token=token, invalid=True, errors=errors)
    return web.render(template, token=token, invalid=False, errors=NO_ERRORS)


@router.get("/app/reset/{token}")
def reset_page(web: AnyWeb, token: str) -> Response:
    return _link_page(
        web, "app/reset.html", token, lambda: check_reset_token(web.session, token, ip=web.client_ip)
    )


@router.post("/app/reset/{token}")
def reset_submit(web: AnyWeb, token: str, form: CheckedForm) -> Response:
    try:
        password = forms.new_password(form)
        attempt(
            web.session,
            lambda: reset_password_with_token(
                web.session, token=token, new_password=password, ip=web.client_ip
            ),
        )
    except DomainError as exc:
        errors = web.form_errors(exc, PASSWORD_FIELDS)
        invalid = any(p.field == "token" for p in exc.errors)
        return web.render(
            "app/reset.html", status_code=_status(exc), token=token, invalid=invalid, errors=errors
        )
    return web.redirect("/app/login?done=password_reset")


# --- Приглашение -------------------------------------------------------------------------------------
@router.get("/app/invite/{token}")
def invite_page(web: AnyWeb, token: str) -> Response:
    return _link_page(
        web, "app/invite.html", token, lambda: check_invitation(web.session, token, ip=web.client_ip)
    )


@router.post("/app/invite/{token}")
def invite_submit(web: AnyWeb, token: str, form: CheckedForm) -> Response:
    try:
        password = forms.new_password(form)
        member = attempt(
            web.session,
            lambda: accept_invitation(web.session, token=token, password=password, ip=web.client_ip),
        )
    except DomainError as exc:
        invalid = any(p.field == "token" for p in exc.errors)
        return web.render(
            "app/invite.html",
            status_code=_status(exc),
            token=token,
            errors=web.form_errors(exc, PASSWORD_FIELDS),
            invalid=invalid,
        )
    return start_session(web, member)


# --- Войти по коду из SMS -----------------------------------------------------------------------------
@router.get("/app/login/code")
def code_login_page(web: AnyWeb, next: str = "") -> Response:
    # ``next`` (a QR code's creation form, say) rides along to the session, as with a password.
    return web.render("app/login_code.html", phone="", errors=NO_ERRORS, next=next)


@router.post("/app/login/code")
def code_login_request(web: AnyWeb, form: CheckedForm) -> Response:
    phone = forms.text(form, "phone", max_length=40).strip()
    next_url = forms.text(form, "next", max_length=2000)
    try:
        attempt(
            web.session,
            lambda: request_login_code(
                web.session, web.settings, phone=phone, ip=web.client_ip, locale=web.locale
            ),
        )
    except DomainError as exc:
        return web.render(
            "app/login_code.html",
            status_code=_status(exc),
            phone=phone,
            errors=web.form_errors(exc, ("phone",)),
            next=next_url,
        )
    query = {"phone": normalize_phone(phone) or phone} | ({"next": next_url} if next_url else {})
    return web.redirect("/app/login/code/verify?" + urlencode(query))


@router.get("/app/login/code/verify")
def code_verify_page(web: AnyWeb, phone: str = "", next: str = "") -> Response:
    return _verify_form(web, phone, "", NO_ERRORS, [], next_url=next)


def _verify_form(
    web: Web,
    phone: str,
    code: str,
    errors: FormErrors,
    tenants: list[tuple[int, str]],
    status: int = 200,
    *,
    next_url: str = "",
) -> Response:
    e164 = normalize_phone(phone)
    return web.render(
        "app/login_code_verify.html",
        status_code=status,
        phone=e164 or phone,
        phone_display=format_phone(e164) if e164 else phone,
        code=code,
        errors=errors,
        tenants=tenants,
        next=next_url,
    )


@router.post("/app/login/code/verify")
def code_verify_submit(web: AnyWeb, form: CheckedForm) -> Response:
    phone = forms.text(form, "phone", max_length=40)
    code = forms.text(form, "code", max_length=12).strip()
    tenant_id = forms.optional_int(form, "tenant_id")
    next_url = forms.text(form, "next", max_length=2000)
    try:
        member = attempt(
            web.session,
            lambda: login_with_code(
                web.session, web.settings, phone=phone, code=code, tenant_id=tenant_id, ip=web.client_ip
            ),
        )
    except TenantChoiceRequired as choice:
        return _verify_form(web, phone, code, NO_ERRORS, choice.tenants, next_url=next_url)
    except DomainError as exc:
        errors = web.form_errors(exc, ("code",))
        return _verify_form(web, phone, code, errors, [], status=_status(exc), next_url=next_url)
    return start_session(web, member, next_url)
