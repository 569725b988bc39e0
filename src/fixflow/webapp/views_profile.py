"""«Профиль»: contacts, language, notification preferences, password change and «Выйти»."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from fixflow.accounts.logins import format_phone
from fixflow.accounts.preferences import CHANNELS, EVENTS, get_preferences, update_preferences
from fixflow.accounts.recovery import change_password
from fixflow.core.errors import DomainError
from fixflow.core.i18n import N_, SUPPORTED_LOCALES, normalize_locale
from fixflow.webapp import forms
from fixflow.webapp.forms import NO_ERRORS, FormErrors
from fixflow.webapp.lookups import profile_of
from fixflow.webapp.web import LANG_COOKIE, YEAR, CheckedForm, UserWeb, Web, WebRoute, attempt

router = APIRouter(route_class=WebRoute, include_in_schema=False)

EVENT_LABELS = {
    "created": N_("A ticket is created"),
    "status_changed": N_("The status changes"),
    "approval_requested": N_("My approval is needed"),
    "work_submitted": N_("Work awaits my acceptance"),
    "message_posted": N_("A new message arrives"),
}
CHANNEL_LABELS = {"in_app": N_("In the app"), "email": N_("E-mail"), "sms": N_("SMS")}
LANGUAGE_NAMES = {"ru": "Русский", "en": "English"}
NOTICES = {
    "password": N_("The password has been changed. Other devices have been signed out."),
    "language": N_("The language has been saved."),
    "notifications": N_("Notification settings have been saved."),
}
PASSWORD_FIELDS = ("current_password", "password", "password2")


def _page(
    web: Web, *, errors: FormErrors = NO_ERRORS, notice: str | None = None, status_code: int = 200
) -> Response:
    profile = profile_of(web.session, web.actor)
    return web.render(
        "app/profile.html",
        status_code=status_code,
        profile=profile,
        phone=format_phone(profile.phone),
        preferences=get_preferences(web.session, web.actor),
        events=[(e, EVENT_LABELS.get(e, e)) for e in EVENTS],
        channels=[(c, CHANNEL_LABELS.get(c, c)) for c in CHANNELS],
        languages=[(code, LANGUAGE_NAMES[code]) for code in SUPPORTED_LOCALES],
        errors=errors,
        notice=notice,
    )


@router.get("/app/profile")
def profile_page(web: UserWeb, done: str = "") -> Response:
    return _page(web, notice=web.gettext(NOTICES[done]) if done in NOTICES else None)


@router.post("/app/profile/password")
def password_submit(web: UserWeb, form: CheckedForm) -> Response:
    assert web.auth is not None
    keep = web.auth.auth_session.id
    try:
        password = forms.new_password(form)
        attempt(
            web.session,
            lambda: change_password(
                web.session,
                web.actor,
                current_password=forms.text(form, "current_password", max_length=500),
                new_password=password,
                keep_session_id=keep,
            ),
        )
    except DomainError as exc:
        return _page(web, errors=web.form_errors(exc, PASSWORD_FIELDS), status_code=exc.status)
    return web.redirect("/app/profile?done=password")


@router.post("/app/profile/language")
def language_submit(web: UserWeb, form: CheckedForm) -> Response:
    locale = normalize_locale(forms.text(form, "lang", max_length=8)) or web.locale
    update_preferences(web.session, web.actor, locale=locale)
    web.set_cookie(LANG_COOKIE, locale, YEAR)
    return web.redirect("/app/profile?done=language")


@router.post("/app/profile/notifications")
def notifications_submit(web: UserWeb, form: CheckedForm) -> Response:
    # Every cell of the grid is posted as a checkbox: absent means switched off.
    events = {e: {c: forms.checkbox(form, f"notify.{e}.{c}") for c in CHANNELS} for e in EVENTS}
    update_preferences(web.session, web.actor, events=events)
    return web.redirect("/app/profile?done=notifications")
