"""Signing in and out of the customer app through its HTML forms: logins, errors, throttling, CSRF."""

from __future__ import annotations

import random
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from webtools import csrf, find, find_all, web_login

from builders import PASSWORD, World
from fixflow.accounts.models import AuthSession
from fixflow.accounts.service import add_member, create_account
from fixflow.core.db import Database
from fixflow.tenants.service import create_tenant


def submit_login(client: TestClient, login: str, password: str, **extra: Any) -> Any:
    page = client.get("/app/login")
    data = {"login": login, "password": password, "csrf_token": csrf(page.text), **extra}
    return client.post("/app/login", data=data, follow_redirects=False)


def test_login_screen_is_russian_by_default_and_sets_a_csrf_cookie(client: TestClient) -> None:
    page = client.get("/app/login")
    assert page.status_code == 200
    assert '<html lang="ru">' in page.text
    form = find(page.text, data_testid="login-form")
    assert form["action"] == "/app/login" and form["method"] == "post"
    assert find(page.text, data_testid="login-submit").text == "Войти"
    assert find(page.text, data_testid="forgot-link").text == "Забыли пароль?"
    assert find(page.text, data_testid="code-login-link").text == "Войти по коду из SMS"
    cookie = page.headers["set-cookie"]
    assert "fixflow_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_login_by_email_in_any_case_opens_my_tickets(client: TestClient, world: World) -> None:
    response = submit_login(client, f"  {world.customer_a.login.upper()} ", PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/app/tickets"
    cookie = response.headers["set-cookie"]
    assert "fixflow_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # base_url is http:// in tests
    home = client.get("/app/tickets")
    assert home.status_code == 200
    assert find(home.text, tag="h1").text == "Мои"
    assert find(home.text, data_testid="tab-mine")["aria-current"] == "page"


def test_web_login_issues_a_web_session_with_a_csrf_secret(
    client: TestClient, world: World, database: Database
) -> None:
    web_login(client, world.customer_a)
    with database.session() as s:
        auth = s.scalars(
            select(AuthSession)
            .where(AuthSession.member_id == world.customer_a.id)
            .order_by(AuthSession.id.desc())
        ).first()
    assert auth is not None and auth.kind == "web" and len(auth.csrf_token) >= 40
    page = client.get("/app/profile")
    assert csrf(page.text) == auth.csrf_token


def test_login_by_phone_in_usual_formats(client: TestClient, world: World, database: Database) -> None:
    digits = f"{random.randint(0, 9_999_999):07d}"
    with database.session(write=True) as s:
        account = create_account(s, phone=f"+7912{digits}", password=PASSWORD)
        add_member(
            s,
            tenant_id=world.tenant_id,
            account=account,
            role_codes=["customer"],
            company_ids=[world.company_a],
        )
    for variant in (f"8 (912) {digits[:3]}-{digits[3:5]}-{digits[5:]}", f"+7 912 {digits}"):
        client.cookies.clear()
        response = submit_login(client, variant, PASSWORD)
        assert response.status_code == 303, (variant, response.text)


def test_wrong_password_gives_one_generic_message_and_keeps_the_login(
    client: TestClient, world: World
) -> None:
    wrong = submit_login(client, world.customer_a.login, "not the password")
    unknown = submit_login(client, f"nobody-{uuid.uuid4().hex[:6]}@example.test", "whatever1")
    for response, typed in ((wrong, world.customer_a.login), (unknown, None)):
        assert response.status_code == 401
        assert find(response.text, data_testid="form-error").text == "Неверный логин или пароль"
        if typed:
            assert find(response.text, id="login")["value"] == typed
        assert "not the password" not in response.text  # the password is never echoed
    assert "fixflow_session" not in client.cookies


def test_repeated_failures_are_throttled(client: TestClient, world: World) -> None:
    for _ in range(5):
        assert submit_login(client, world.customer_a2.login, "wrong password").status_code == 401
    throttled = submit_login(client, world.customer_a2.login, PASSWORD)
    assert throttled.status_code == 429
    assert "Слишком много попыток" in find(throttled.text, data_testid="form-error").text
    assert int(throttled.headers["retry-after"]) > 0


def test_a_login_in_two_organisations_chooses_one_and_keeps_what_was_typed(
    client: TestClient, world: World, database: Database
) -> None:
    suffix = uuid.uuid4().hex[:8]
    with database.session(write=True) as s:
        other = create_tenant(s, name=f"Второй сервис {suffix}", slug=f"t2-{suffix}").tenant
        account = create_account(s, email=f"twice-{suffix}@example.test", password=PASSWORD)
        add_member(
            s,
            tenant_id=world.tenant_id,
            account=account,
            role_codes=["customer"],
            company_ids=[world.company_a],
        )
        add_member(s, tenant_id=other.id, account=account, role_codes=["owner"], company_ids=[])
        other_id = other.id
    step = submit_login(client, f"twice-{suffix}@example.test", PASSWORD)
    assert step.status_code == 200
    assert step.headers["cache-control"] == "no-store"
    choices = find_all(step.text, data_testid="tenant-choice")
    assert {int(c["value"]) for c in choices} == {world.tenant_id, other_id}
    assert find(step.text, tag="input", name="login")["value"] == f"twice-{suffix}@example.test"
    chosen = client.post(
        "/app/login",
        data={
            "login": f"twice-{suffix}@example.test",
            "password": PASSWORD,
            "tenant_id": str(other_id),
            "csrf_token": csrf(step.text),
        },
        follow_redirects=False,
    )
    assert chosen.status_code == 303
    with database.session() as s:
        auth = s.scalars(select(AuthSession).where(AuthSession.account_id == account.id)).one()
    assert auth.tenant_id == other_id


def test_pages_need_a_login_and_come_back_after_it(client: TestClient, world: World) -> None:
    response = client.get("/app/tickets?tab=archive", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/login?next=/app/tickets%3Ftab%3Darchive"
    page = client.get(response.headers["location"])
    assert find(page.text, tag="input", name="next")["value"] == "/app/tickets?tab=archive"
    done = submit_login(client, world.customer_a.login, PASSWORD, next="/app/tickets?tab=archive")
    assert done.headers["location"] == "/app/tickets?tab=archive"
    client.cookies.clear()
    evil = submit_login(client, world.customer_a.login, PASSWORD, next="//evil.example/")
    assert evil.headers["location"] == "/app/tickets"


def test_logout_ends_the_session(client: TestClient, world: World, database: Database) -> None:
    web_login(client, world.customer_a)
    profile = client.get("/app/profile")
    out = client.post("/app/logout", data={"csrf_token": csrf(profile.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/app/login?done=signed_out"
    assert "fixflow_session" not in client.cookies
    with database.session() as s:
        sessions = s.scalars(select(AuthSession).where(AuthSession.member_id == world.customer_a.id)).all()
    assert sessions and all(a.revoked_at is not None for a in sessions)
    assert client.get("/app/tickets", follow_redirects=False).status_code == 303


def test_an_api_token_in_the_cookie_does_not_open_pages(client: TestClient, world: World) -> None:
    api = client.post("/api/v1/auth/login", json={"login": world.customer_a.login, "password": PASSWORD})
    token = api.json()["token"]
    # Remembered by the API's lists first: the page must still refuse it.
    assert client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    client.cookies.set("fixflow_session", token)
    for page in ("/app/tickets", "/app/tickets?tab=all"):
        response = client.get(page, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/app/login")


def test_forms_without_the_csrf_token_are_refused(client: TestClient, world: World) -> None:
    client.get("/app/login")
    response = client.post(
        "/app/login", data={"login": world.customer_a.login, "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "Форма устарела" in response.text
    assert "fixflow_session" not in client.cookies
    forged = client.post(
        "/app/login",
        data={"login": world.customer_a.login, "password": PASSWORD, "csrf_token": "x" * 43},
        follow_redirects=False,
    )
    assert forged.status_code == 403


def test_language_switch_before_login(client: TestClient) -> None:
    page = client.get("/app/login")
    response = client.post(
        "/app/lang",
        data={"lang": "en", "next": "/app/login", "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/app/login"
    english = client.get("/app/login")
    assert '<html lang="en">' in english.text
    assert find(english.text, data_testid="login-submit").text == "Sign in"
    assert find(english.text, data_testid="forgot-link").text == "Forgot your password?"


def test_the_browser_language_is_used_when_nothing_was_chosen(client: TestClient) -> None:
    english = client.get("/app/login", headers={"Accept-Language": "en-GB,en;q=0.9,ru;q=0.5"})
    assert '<html lang="en">' in english.text
    russian = client.get("/app/login", headers={"Accept-Language": "de-DE,ru;q=0.8"})
    assert '<html lang="ru">' in russian.text
