"""Browser: signing in (phone, e-mail, SMS code), password recovery by e-mail and SMS, invitations,
and the profile's language switch — in Russian and English, on a 360×740 screen."""

from __future__ import annotations

import re

import pytest
from support import (
    ANNA,
    RAISA,
    AppServer,
    Screen,
    ScreenFactory,
    app_server,
    browser,
    customer_with_password,
    expect,
    new_customer,
    screen,
    tr,
    unique_email,
    unique_phone,
)

from smtp import code_in

pytestmark = pytest.mark.browser
__all__ = ["app_server", "browser", "screen"]  # fixtures, imported for pytest

LOCALES = pytest.mark.parametrize("locale", ["ru", "en"])
NEW_PASSWORD = "Новый-пароль-42"
LISTS = re.compile(r"/app/tickets(\?|$)")


def choose_language(tab: Screen, locale: str) -> None:
    """The switch on the sign-in screen (a ``lang`` cookie); Russian is the default."""
    page = tab.page
    if locale == "en":
        page.click("[data-testid=lang-en]")
        expect(page.locator("[data-testid=lang-en]")).to_have_attribute("aria-pressed", "true")


@LOCALES
def test_login_by_phone_in_another_format(screen: ScreenFactory, app_server: AppServer, locale: str) -> None:
    tab = screen(locale)
    page = tab.page
    page.goto("/app/login")
    choose_language(tab, locale)
    expect(page.locator("h1")).to_have_text(tr(locale, "Войти", "Sign in"))
    page.fill("#login", "8 900 000 00 11")  # stored as +7 900 000-00-11
    page.fill("#password", "demo")
    tab.shot("login")
    page.click("[data-testid=login-submit]")
    page.wait_for_url(LISTS)
    expect(page.locator("[data-testid=tab-mine]")).to_have_attribute("aria-current", "page")
    expect(page.locator(".appbar__title")).to_have_text(tr(locale, "Мои", "Mine"))
    page.click("[data-testid=profile-link]")
    expect(page.locator("[data-testid=profile-name]")).to_contain_text("Ромашкина")
    expect(page.locator("[data-testid=profile-phone]")).to_contain_text("900 000-00-11")
    assert RAISA.endswith("11")


@LOCALES
def test_login_by_email_in_any_case(screen: ScreenFactory, locale: str) -> None:
    tab = screen(locale)
    page = tab.page
    page.goto("/app/login")
    choose_language(tab, locale)
    page.fill("#login", ANNA.upper())
    page.fill("#password", "demo")
    page.click("[data-testid=login-submit]")
    page.wait_for_url(LISTS)
    page.click("[data-testid=profile-link]")
    expect(page.locator("[data-testid=profile-email]")).to_contain_text(ANNA)
    expect(page.locator(".appbar__title")).to_have_text(tr(locale, "Профиль", "Profile"))


@LOCALES
def test_wrong_password_and_unknown_login_get_one_generic_message(screen: ScreenFactory, locale: str) -> None:
    tab = screen(locale)
    tab.allow_status(401)  # the refused sign-in answers 401 with the form
    page = tab.page
    page.goto("/app/login")
    choose_language(tab, locale)
    message = tr(locale, "Неверный логин или пароль", "Wrong login or password")
    shown = []
    for login in ("+7 900 000-00-21", f"nobody-{locale}@nowhere.test"):
        page.fill("#login", login)
        page.fill("#password", "not the password")
        page.click("[data-testid=login-submit]")
        error = page.locator("[data-testid=form-error]")
        expect(error).to_contain_text(message)
        shown.append(error.inner_text())
        expect(page.locator("#login")).to_have_value(login)  # kept; the password is not
        expect(page.locator("#password")).to_have_value("")
    assert shown[0] == shown[1]  # never says which part was wrong
    tab.shot()


@LOCALES
def test_forgot_password_by_email(screen: ScreenFactory, app_server: AppServer, locale: str) -> None:
    customer = customer_with_password(app_server, "Старый-пароль-1")
    assert customer.email is not None
    before = app_server.mail_count(customer.email)
    tab = screen(locale)
    page = tab.page
    page.goto("/app/login")
    choose_language(tab, locale)
    page.click("[data-testid=forgot-link]")
    page.fill("#login", customer.email.upper())
    page.click("[data-testid=forgot-submit]")
    expect(page.locator("[data-testid=flash]")).to_contain_text(tr(locale, "30 минут", "30 minutes"))
    tab.shot("sent")

    link = app_server.wait_mail(customer.email, after=before).link("/app/reset/")
    assert link.startswith(app_server.base_url)
    page.goto(link)
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password2", NEW_PASSWORD)
    page.click("[data-testid=reset-submit]")
    page.wait_for_url(re.compile(r"/app/login\?done=password_reset"))
    expect(page.locator("[data-testid=flash]")).to_be_visible()

    tab.login(customer.email, NEW_PASSWORD)
    expect(page.locator("[data-testid=tabbar]")).to_be_visible()

    # The link is single-use.
    tab.allow_status(422, 410, 404, 400)
    page.goto(link)
    expect(page.locator("[data-testid=reset-form]")).to_have_count(0)


@LOCALES
def test_forgot_password_by_sms(screen: ScreenFactory, app_server: AppServer, locale: str) -> None:
    phone = unique_phone()
    customer = customer_with_password(app_server, "Старый-пароль-1", phone=phone)
    assert customer.phone == phone
    last_sms = app_server.last_sms_id()
    tab = screen(locale)
    page = tab.page
    page.goto("/app/login")
    choose_language(tab, locale)
    page.click("[data-testid=forgot-link]")
    typed = f"8 ({phone[2:5]}) {phone[5:8]}-{phone[8:10]}-{phone[10:]}"  # 8 (901) 123-45-67
    page.fill("#login", typed)
    page.click("[data-testid=forgot-submit]")
    page.wait_for_url(re.compile(r"/app/forgot/code"))
    expect(page.locator("[data-testid=flash]")).to_contain_text(tr(locale, "10 минут", "10 minutes"))

    code = code_in(app_server.wait_sms(phone, after_id=last_sms))
    page.fill("#code", code)
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password2", NEW_PASSWORD)
    tab.shot("code")
    page.click("[data-testid=forgot-code-submit]")
    page.wait_for_url(re.compile(r"/app/login\?done=password_reset"))

    tab.login(typed, NEW_PASSWORD)
    page.click("[data-testid=profile-link]")
    expect(page.locator("[data-testid=profile-name]")).to_have_text(customer.name)


def test_forgot_password_answers_the_same_for_unknown_logins(screen: ScreenFactory) -> None:
    tab = screen()
    page = tab.page
    page.goto("/app/forgot")
    page.fill("#login", unique_email())
    page.click("[data-testid=forgot-submit]")
    expect(page.locator("[data-testid=flash]")).to_contain_text("Если")
    expect(page.locator("[data-testid=form-error]")).to_have_count(0)


@LOCALES
def test_invitation_sets_the_first_password_and_signs_in(
    screen: ScreenFactory, app_server: AppServer, locale: str
) -> None:
    email = unique_email()
    customer = new_customer(app_server, email=email)
    mail = app_server.wait_mail(email)
    assert "Демо Сервис" in mail.subject
    link = mail.link("/app/invite/")
    assert link.startswith(app_server.base_url)

    tab = screen(locale)
    page = tab.page
    # Until the invitation is accepted the account cannot sign in.
    tab.allow_status(401)
    page.goto("/app/login")
    choose_language(tab, locale)
    page.fill("#login", email)
    page.fill("#password", NEW_PASSWORD)
    page.click("[data-testid=login-submit]")
    expect(page.locator("[data-testid=form-error]")).to_be_visible()

    page.goto(link)
    expect(page.locator("h1")).to_have_text(tr(locale, "Добро пожаловать!", "Welcome!"))
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password2", NEW_PASSWORD)
    tab.shot("invite")
    page.click("[data-testid=invite-submit]")
    page.wait_for_url(LISTS)
    expect(page.locator("[data-testid=tabbar]")).to_be_visible()
    page.click("[data-testid=profile-link]")
    expect(page.locator("[data-testid=profile-name]")).to_have_text(customer.name)


@LOCALES
def test_login_by_sms_code(screen: ScreenFactory, app_server: AppServer, locale: str) -> None:
    phone = unique_phone()
    customer = customer_with_password(app_server, "Пароль-по-смс-1", phone=phone, via="sms")
    last_sms = app_server.last_sms_id()
    tab = screen(locale)
    page = tab.page
    page.goto("/app/login")
    page.click("[data-testid=code-login-link]")
    page.fill("#phone", "8" + phone[2:])
    page.click("[data-testid=code-login-submit]")
    page.wait_for_url(re.compile(r"/app/login/code/verify"))
    code = code_in(app_server.wait_sms(phone, after_id=last_sms))
    page.fill("#code", code)
    page.click("[data-testid=code-verify-submit]")
    page.wait_for_url(LISTS)
    page.click("[data-testid=profile-link]")
    expect(page.locator("[data-testid=profile-name]")).to_have_text(customer.name)


def test_profile_language_switch_changes_every_screen(screen: ScreenFactory, app_server: AppServer) -> None:
    customer = customer_with_password(app_server, "Язык-пароль-1")
    assert customer.email is not None
    tab = screen("ru")
    page = tab.page
    tab.login(customer.email, "Язык-пароль-1")
    expect(page.locator(".appbar__title")).to_have_text("Мои")
    page.click("[data-testid=profile-link]")
    page.select_option("#lang", "en")
    page.click("[data-testid=language-save]")
    expect(page.locator("[data-testid=flash]")).to_have_text("The language has been saved.")
    page.click("[data-testid=back]")
    expect(page.locator(".appbar__title")).to_have_text("Mine")
    expect(page.locator("[data-testid=tab-archive]")).to_contain_text("Archive")
    # The choice belongs to the member: a new device signs in straight into English.
    other = screen("ru", label="other-device")
    other.login(customer.email, "Язык-пароль-1")
    expect(other.page.locator(".appbar__title")).to_have_text("Mine")


@LOCALES
def test_profile_notifications_and_password_change(
    screen: ScreenFactory, app_server: AppServer, locale: str
) -> None:
    customer = customer_with_password(app_server, "Профиль-пароль-1")
    assert customer.email is not None
    tab = screen(locale)
    tab.allow_status(422)
    tab.login(customer.email, "Профиль-пароль-1")
    page = tab.page
    page.click("[data-testid=profile-link]")

    first = page.locator(".prefs__check").first
    name, was = first.get_attribute("name"), first.is_checked()
    first.set_checked(not was)
    page.click("[data-testid=notifications-save]")
    expect(page.locator("[data-testid=flash]")).to_have_text(
        tr(locale, "Настройки уведомлений сохранены.", "Notification settings have been saved.")
    )
    page.reload()
    saved = page.locator(f".prefs__check[name='{name}']")
    expect(saved).to_be_checked() if not was else expect(saved).not_to_be_checked()

    page.fill("#current_password", "не-тот-пароль-1")
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password2", NEW_PASSWORD)
    page.click("[data-testid=password-save]")
    expect(page.locator("[data-testid=field-error-current_password]")).to_have_text(
        tr(locale, "Неверный текущий пароль", "Wrong current password")
    )
    page.fill("#current_password", "Профиль-пароль-1")
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password2", NEW_PASSWORD)
    page.click("[data-testid=password-save]")
    expect(page.locator("[data-testid=flash]")).to_have_text(
        tr(
            locale,
            "Пароль изменён. На других устройствах выполнен выход.",
            "The password has been changed. Other devices have been signed out.",
        )
    )
    expect(page.locator("[data-testid=profile]")).to_be_visible()  # this device stays signed in
    other = screen(locale, label="new-password")
    other.login(customer.email, NEW_PASSWORD)
    expect(other.page.locator("[data-testid=tab-archive]")).to_be_visible()
