"""Password recovery by e-mail link and by SMS code, changing the password, preferences."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from builders import PASSWORD, World, login
from fixflow.accounts.models import Account, Member
from fixflow.accounts.models_recovery import OneTimeCode, PasswordResetToken
from fixflow.accounts.recovery import (
    InvalidLink,
    check_reset_token,
    request_password_reset,
    reset_password_with_code,
    reset_password_with_token,
)
from fixflow.accounts.service import issue_session
from fixflow.config import Settings
from fixflow.core.db import Database
from fixflow.core.errors import ValidationFailed
from fixflow.core.security import token_digest
from fixflow.jobs.models import Job
from smtp import SmtpServer, code_in, drain_jobs, new_phone, set_phone, sms_to

NEW_PASSWORD = "brand new secret"


def _token(link: str) -> str:
    return link.rsplit("/", 1)[1]


def _login_status(client: TestClient, login_value: str, password: str) -> int:
    return int(
        client.post("/api/v1/auth/login", json={"login": login_value, "password": password}).status_code
    )


def _request_reset(client: TestClient, login_value: str, **extra: str) -> dict[str, object]:
    response = client.post("/api/v1/auth/password-reset", json={"login": login_value, **extra})
    assert response.status_code == 202, response.text
    return dict(response.json())


def _shift(database: Database, model: Any, account_id: int, **delta: dt.timedelta) -> None:
    """Move stored timestamps into the past: time passing without sleeping."""
    with database.session(write=True) as s:
        for row in s.scalars(select(model).where(model.account_id == account_id)):
            for column, by in delta.items():
                setattr(row, column, getattr(row, column) - by)


def _reset_mails(smtp: SmtpServer, to: str) -> list[str]:
    return [m.link("/app/reset/") for m in smtp.to(to)]


# --- e-mail link -------------------------------------------------------------------------------


def test_email_link_resets_the_password_once_and_ends_every_session(
    client: TestClient, world: World, database: Database, smtp_server: SmtpServer
) -> None:
    person = world.customer_a
    old_session = login(client, person)
    body = _request_reset(client, person.login.upper())  # e-mail in any case
    assert smtp_server.to(person.login) == []  # sent by the worker after commit, never in the request
    drain_jobs(database)
    mail = smtp_server.one_to(person.login)
    assert mail.subject == "Восстановление пароля"  # Russian by default
    assert "30 минут" in mail.text and "/app/reset/" in mail.html
    link = mail.link("/app/reset/")
    assert link.startswith(Settings().base_url.rstrip("/") + "/app/reset/")
    token = _token(link)
    with database.session() as s:  # only the SHA-256 of the token is stored
        row = s.scalars(
            select(PasswordResetToken).where(PasswordResetToken.account_id == person.actor.account_id)
        ).one()
        assert row.token_hash == token_digest(token) and token not in row.token_hash
    assert body["expires_in_seconds"] == 1800 and body["resend_after_seconds"] == 60

    assert client.post("/api/v1/auth/password-reset/check", json={"token": token}).status_code == 204
    short = client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": "short"})
    assert short.status_code == 422  # too short: the link is not spent
    confirm = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert confirm.status_code == 204, confirm.text

    assert _login_status(client, person.login, PASSWORD) == 401
    assert _login_status(client, person.login, NEW_PASSWORD) == 200
    assert client.get("/api/v1/me", headers=old_session).status_code == 401  # every session ended
    again = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "another one!"}
    )
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "token"  # single use
    with database.session() as s:
        assert s.get(Account, person.actor.account_id).email_verified  # type: ignore[union-attr]


def test_email_link_expires_after_30_minutes(
    client: TestClient, world: World, database: Database, smtp_server: SmtpServer
) -> None:
    person = world.customer_b
    _request_reset(client, person.login, locale="en")
    drain_jobs(database)
    mail = smtp_server.one_to(person.login)
    assert mail.subject == "Password recovery" and "30 minutes" in mail.text
    token = _token(mail.link("/app/reset/"))
    _shift(
        database, PasswordResetToken, person.actor.account_id, expires_at=dt.timedelta(minutes=30, seconds=1)
    )
    assert client.post("/api/v1/auth/password-reset/check", json={"token": token}).status_code == 422
    response = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert response.status_code == 422
    assert _login_status(client, person.login, PASSWORD) == 200


def test_new_link_not_before_60_s_and_it_voids_the_older_one(
    client: TestClient, world: World, database: Database, smtp_server: SmtpServer
) -> None:
    person = world.cadmin_a
    _request_reset(client, person.login)
    _request_reset(client, person.login)  # too early: silently not sent
    drain_jobs(database)
    [first] = _reset_mails(smtp_server, person.login)
    _shift(database, PasswordResetToken, person.actor.account_id, created_at=dt.timedelta(seconds=61))
    _request_reset(client, person.login)
    drain_jobs(database)
    links = _reset_mails(smtp_server, person.login)
    assert len(links) == 2 and links[1] != first
    assert client.post("/api/v1/auth/password-reset/check", json={"token": _token(first)}).status_code == 422
    assert (
        client.post("/api/v1/auth/password-reset/check", json={"token": _token(links[1])}).status_code == 204
    )


def test_no_enumeration_same_answer_and_nothing_sent_for_unknown_logins(
    client: TestClient, world: World, database: Database, smtp_server: SmtpServer
) -> None:
    unknown_email = f"nobody-{uuid.uuid4().hex[:8]}@example.test"
    unknown_phone = new_phone()
    known_phone = new_phone()
    set_phone(database, world.customer_a2.actor.account_id, known_phone)
    answers = {}
    for login_value in (world.customer_a2.login, unknown_email, known_phone, unknown_phone):
        response = client.post("/api/v1/auth/password-reset", json={"login": login_value})
        answers[login_value] = (response.status_code, response.json())
    assert answers[world.customer_a2.login] == answers[unknown_email]
    assert answers[known_phone] == answers[unknown_phone]
    with database.session() as s:  # the request path did the same for all four: one queued job each
        jobs = s.scalars(select(Job).where(Job.kind == "password_reset_request")).all()
        queued = [j.payload["login"] for j in jobs]
    for value in (world.customer_a2.login, unknown_email, known_phone, unknown_phone):
        assert queued.count(value) == 1
    drain_jobs(database)
    assert len(smtp_server.to(world.customer_a2.login)) == 1
    assert smtp_server.to(unknown_email) == []
    assert len(sms_to(database, known_phone)) == 1
    assert sms_to(database, unknown_phone) == []
    bad = client.post("/api/v1/auth/password-reset", json={"login": "not a login"})
    assert bad.status_code == 422  # only the format is judged


def test_reset_requests_are_throttled_per_login(client: TestClient, world: World) -> None:
    login_value = f"flood-{uuid.uuid4().hex[:8]}@example.test"
    for _ in range(10):
        _request_reset(client, login_value)
    response = client.post("/api/v1/auth/password-reset", json={"login": login_value})
    assert response.status_code == 429
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0


def test_banned_and_passwordless_accounts_get_nothing(
    world: World, database: Database, settings: Settings, smtp_server: SmtpServer
) -> None:
    person = world.customer_b
    with database.session(write=True) as s:
        s.get(Account, person.actor.account_id).banned = True  # type: ignore[union-attr]
        request_password_reset(s, settings, login=person.login, ip="10.0.0.1")
    drain_jobs(database)
    assert smtp_server.to(person.login) == []


# --- SMS code ----------------------------------------------------------------------------------


def _phone_person(world: World, database: Database, who: str = "customer_a") -> tuple[str, int]:
    phone = new_phone()
    account_id = world.people[who].actor.account_id
    set_phone(database, account_id, phone, verified=False)
    return phone, account_id


def _confirm_code(client: TestClient, phone: str, code: str, password: str = NEW_PASSWORD) -> int:
    body = {"phone": phone, "code": code, "password": password}
    return int(client.post("/api/v1/auth/password-reset/confirm", json=body).status_code)


def test_sms_code_resets_the_password(client: TestClient, world: World, database: Database) -> None:
    phone, account_id = _phone_person(world, database)
    old_session = login(client, world.customer_a)
    national = f"8 ({phone[2:5]}) {phone[5:8]}-{phone[8:10]}-{phone[10:]}"  # any usual format
    body = _request_reset(client, national)
    assert body["expires_in_seconds"] == 600
    drain_jobs(database)
    [text] = sms_to(database, phone)
    assert "10 минут" in text
    code = code_in(text)
    with database.session() as s:
        row = s.scalars(select(OneTimeCode).where(OneTimeCode.account_id == account_id)).one()
        assert code not in row.code_hash and row.purpose == "reset"
    assert _confirm_code(client, phone, code) == 204
    assert _login_status(client, phone, NEW_PASSWORD) == 200
    assert _login_status(client, world.customer_a.login, PASSWORD) == 401
    assert client.get("/api/v1/me", headers=old_session).status_code == 401
    assert _confirm_code(client, phone, code, "yet another one") == 422  # single use
    with database.session() as s:
        assert s.get(Account, account_id).phone_verified  # type: ignore[union-attr]


def test_five_wrong_codes_void_the_code(client: TestClient, world: World, database: Database) -> None:
    phone, _ = _phone_person(world, database, "customer_a2")
    _request_reset(client, phone)
    drain_jobs(database)
    code = code_in(sms_to(database, phone)[0])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        response = client.post(
            "/api/v1/auth/password-reset/confirm",
            json={"phone": phone, "code": wrong, "password": NEW_PASSWORD},
        )
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "code"
    assert _confirm_code(client, phone, code) == 422  # the right code no longer works
    assert _login_status(client, world.customer_a2.login, PASSWORD) == 200


def test_new_code_not_before_60_s_and_it_voids_the_older_one(
    client: TestClient, world: World, database: Database
) -> None:
    phone, account_id = _phone_person(world, database, "cadmin_b")
    _request_reset(client, phone)
    drain_jobs(database)
    _request_reset(client, phone)  # within 60 s: same answer, nothing sent
    drain_jobs(database)
    assert len(sms_to(database, phone)) == 1
    _shift(database, OneTimeCode, account_id, created_at=dt.timedelta(seconds=61))
    _request_reset(client, phone)
    drain_jobs(database)
    first, second = (code_in(t) for t in sms_to(database, phone))
    if first != second:
        assert _confirm_code(client, phone, first) == 422
    assert _confirm_code(client, phone, second) == 204


def test_code_expires_after_10_minutes(client: TestClient, world: World, database: Database) -> None:
    phone, account_id = _phone_person(world, database, "executor2")
    _request_reset(client, phone)
    drain_jobs(database)
    code = code_in(sms_to(database, phone)[0])
    _shift(database, OneTimeCode, account_id, expires_at=dt.timedelta(minutes=10, seconds=1))
    assert _confirm_code(client, phone, code) == 422


def test_wrong_codes_are_throttled_per_phone(client: TestClient, world: World, database: Database) -> None:
    phone = new_phone()  # no such account: failures still count, and look the same
    statuses = [_confirm_code(client, phone, "000000") for _ in range(11)]
    assert statuses[:10] == [422] * 10 and statuses[10] == 429


# --- service level -----------------------------------------------------------------------------


def test_service_level_token_and_code_rules(session: Session, sworld: World, settings: Settings) -> None:
    from fixflow.accounts.recovery import deliver_password_reset

    person = sworld.customer_a
    phone = new_phone()
    account = session.get(Account, person.actor.account_id)
    assert account is not None
    account.phone = phone
    session.flush()
    member = session.get(Member, person.id)
    assert member is not None
    issued = issue_session(session, settings, member)
    request_password_reset(session, settings, login=person.login, ip="1.2.3.4", locale="en")
    job = session.scalars(
        select(Job).where(Job.kind == "password_reset_request").order_by(Job.id.desc())
    ).first()
    assert job is not None and job.payload["login"] == person.login
    deliver_password_reset(session, dict(job.payload))
    mail_job = session.scalars(select(Job).where(Job.kind == "send_email").order_by(Job.id.desc())).first()
    assert mail_job is not None and mail_job.payload["to"] == person.login
    token = _token(_link_in(mail_job.payload["text"]))
    assert mail_job.payload["subject"] == "Password recovery"
    assert check_reset_token(session, token) == account.id
    with pytest.raises(ValidationFailed):
        reset_password_with_token(session, token=token, new_password="short")
    assert reset_password_with_token(session, token=token, new_password=NEW_PASSWORD) == account.id
    with pytest.raises(InvalidLink):
        check_reset_token(session, token)

    deliver_password_reset(
        session, {"kind": "phone", "login": phone, "locale": None, "base_url": settings.base_url}
    )
    sms_job = session.scalars(select(Job).where(Job.kind == "send_sms").order_by(Job.id.desc())).first()
    assert sms_job is not None and sms_job.payload["phone"] == phone
    code = code_in(sms_job.payload["text"])
    with pytest.raises(ValidationFailed):
        reset_password_with_code(session, phone=phone, code="abcdef", new_password="third password")
    assert (
        reset_password_with_code(session, phone=phone, code=code, new_password="third password") == account.id
    )
    session.refresh(issued.session)
    assert issued.session.revoked_at is not None
    codes = session.scalars(select(OneTimeCode).where(OneTimeCode.account_id == account.id)).all()
    assert [c.used_at is not None for c in codes] == [True]


def _link_in(text: str) -> str:
    return next(word for word in text.split() if "/app/reset/" in word)


# --- change password and preferences ------------------------------------------------------------


def test_change_password_needs_the_current_one_and_ends_other_sessions(
    client: TestClient, world: World
) -> None:
    person = world.executor
    other = login(client, person)
    mine = login(client, person)
    wrong = client.post(
        "/api/v1/me/password",
        json={"current_password": "not it at all", "new_password": NEW_PASSWORD},
        headers=mine,
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "current_password"
    short = client.post(
        "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "x"}, headers=mine
    )
    assert short.status_code == 422
    ok = client.post(
        "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=mine
    )
    assert ok.status_code == 204, ok.text
    assert client.get("/api/v1/me", headers=mine).status_code == 200
    assert client.get("/api/v1/me", headers=other).status_code == 401
    assert _login_status(client, person.login, NEW_PASSWORD) == 200
    assert (
        client.post("/api/v1/me/password", json={"current_password": PASSWORD}, headers=mine).status_code
        == 422
    )


def test_wrong_current_passwords_are_throttled(client: TestClient, world: World) -> None:
    headers = login(client, world.customer_a)
    body = {"current_password": "wrong guess!", "new_password": NEW_PASSWORD}
    statuses = [client.post("/api/v1/me/password", json=body, headers=headers).status_code for _ in range(6)]
    assert statuses == [422] * 5 + [429]


def test_preferences_round_trip(client: TestClient, world: World) -> None:
    headers = login(client, world.customer_b)
    start = client.get("/api/v1/me/preferences", headers=headers)
    assert start.status_code == 200
    prefs = start.json()
    assert set(prefs["events"]) == {
        "created",
        "status_changed",
        "approval_requested",
        "work_submitted",
        "message_posted",
    }
    assert prefs["events"]["created"] == {"in_app": True, "email": False, "sms": False}
    assert prefs["locale"] == "ru" and prefs["locale_is_default"] is True

    change = {
        "events": {"message_posted": {"sms": True}, "created": {"in_app": False, "email": True}},
        "locale": "en",
    }
    updated = client.put("/api/v1/me/preferences", json=change, headers=headers)
    assert updated.status_code == 200, updated.text
    again = client.get("/api/v1/me/preferences", headers=headers).json()
    assert again == updated.json()
    assert again["events"]["message_posted"] == {"in_app": True, "email": False, "sms": True}
    assert again["events"]["created"] == {"in_app": False, "email": True, "sms": False}
    assert again["locale"] == "en" and again["locale_is_default"] is False
    assert client.get("/api/v1/me", headers=headers).json()["locale"] == "en"

    for bad in (
        {"events": {"nope": {"sms": True}}},
        {"events": {"created": {"fax": True}}},
        {"locale": "de"},
        {"x": 1},
    ):
        assert client.put("/api/v1/me/preferences", json=bad, headers=headers).status_code == 422
    assert client.get("/api/v1/me/preferences?x=1", headers=headers).status_code in (400, 422)
    assert client.get("/api/v1/me/preferences").status_code == 401
