"""«Профиль»: contacts, password change, language and notification preferences, «Выйти»."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from webtools import csrf, find, find_all, web_login

from builders import PASSWORD, World, login
from fixflow.accounts.models import AuthSession, Member
from fixflow.core.db import Database

NEW_PASSWORD = "another good secret"


def test_profile_shows_name_contacts_and_settings(client: TestClient, world: World) -> None:
    web_login(client, world.customer_a)
    page = client.get("/app/profile").text
    assert find(page, data_testid="profile-name").text == "Customer_a Test"
    assert find(page, data_testid="profile-email").text.endswith(world.customer_a.login)
    boxes = find_all(page, tag="input", type="checkbox", class_="prefs__check")
    assert len(boxes) == 5 * 3
    assert {b["name"] for b in boxes} >= {"notify.approval_requested.email", "notify.message_posted.sms"}
    assert "checked" in find(page, tag="input", name="notify.status_changed.email").attrs  # default on
    assert "checked" not in find(page, tag="input", name="notify.created.sms").attrs
    assert find(page, data_testid="logout").text == "Выйти"


def test_change_password_needs_the_current_one_and_ends_other_sessions(
    client: TestClient, world: World, database: Database
) -> None:
    other_device = login(client, world.customer_a)
    web_login(client, world.customer_a)
    page = client.get("/app/profile").text
    token = csrf(page)
    wrong = client.post(
        "/app/profile/password",
        data={
            "current_password": "nope",
            "password": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "csrf_token": token,
        },
    )
    assert wrong.status_code == 422
    assert find(wrong.text, data_testid="field-error-current_password").text == "Неверный текущий пароль"
    done = client.post(
        "/app/profile/password",
        data={
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/app/profile?done=password"
    after = client.get(done.headers["location"])
    assert after.status_code == 200  # this session stays
    assert find(after.text, data_testid="flash").text.startswith("Пароль изменён")
    assert client.get("/api/v1/me", headers=other_device).status_code == 401
    assert (
        client.post(
            "/api/v1/auth/login", json={"login": world.customer_a.login, "password": NEW_PASSWORD}
        ).status_code
        == 200
    )


def test_language_is_saved_on_the_member(client: TestClient, world: World, database: Database) -> None:
    web_login(client, world.customer_a2)
    page = client.get("/app/profile").text
    saved = client.post(
        "/app/profile/language", data={"lang": "en", "csrf_token": csrf(page)}, follow_redirects=False
    )
    assert saved.status_code == 303
    with database.session() as s:
        member = s.get(Member, world.customer_a2.id)
        assert member is not None and member.locale == "en"
    english = client.get(saved.headers["location"]).text
    assert find(english, data_testid="flash").text == "The language has been saved."
    assert find(english, data_testid="logout").text == "Sign out"
    client.cookies.delete("lang")
    assert '<html lang="en">' in client.get("/app/tickets").text  # the member's choice wins


def test_notification_preferences_are_saved(client: TestClient, world: World, database: Database) -> None:
    web_login(client, world.customer_a2)
    page = client.get("/app/profile").text
    saved = client.post(
        "/app/profile/notifications",
        data={"notify.created.sms": "1", "notify.message_posted.in_app": "1", "csrf_token": csrf(page)},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    with database.session() as s:
        member = s.get(Member, world.customer_a2.id)
        assert member is not None
        prefs = member.notification_prefs
    assert prefs["created"]["sms"] is True and prefs["status_changed"]["email"] is False
    again = client.get("/app/profile").text
    assert "checked" in find(again, tag="input", name="notify.created.sms").attrs
    assert "checked" not in find(again, tag="input", name="notify.status_changed.email").attrs


def test_logout_button_signs_out(client: TestClient, world: World, database: Database) -> None:
    web_login(client, world.customer_a)
    page = client.get("/app/profile").text
    client.post("/app/logout", data={"csrf_token": csrf(page)})
    assert client.get("/app/profile", follow_redirects=False).status_code == 303
    with database.session() as s:
        active = s.scalars(
            select(AuthSession).where(
                AuthSession.member_id == world.customer_a.id, AuthSession.revoked_at.is_(None)
            )
        ).all()
    assert active == []
