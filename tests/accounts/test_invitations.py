"""Staff create members; invitations by e-mail and SMS; accepting, expiry, resending; member list."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from builders import PASSWORD, World, login, make_world
from fixflow.accounts.invitations import accept_invitation, create_member
from fixflow.accounts.models import Account, Member
from fixflow.accounts.models_recovery import Invitation
from fixflow.accounts.service import authenticate
from fixflow.config import Settings, get_settings
from fixflow.core.db import Database
from fixflow.core.errors import Conflict, Forbidden, Unauthenticated, ValidationFailed
from fixflow.core.security import token_digest
from fixflow.jobs.models import Job
from smtp import SmtpServer, code_in, drain_jobs, new_phone, sms_to

FIRST_PASSWORD = "my first password"


def _email() -> str:
    return f"new-{uuid.uuid4().hex[:10]}@example.test"


def _create(client: TestClient, headers: dict[str, str], world: World, **fields: Any) -> Any:
    body = {
        "last_name": "Новиков",
        "first_name": "Иван",
        "role_codes": ["customer"],
        "company_ids": [world.company_a],
    }
    return client.post("/api/v1/members", json=body | fields, headers=headers)


def _token(link: str) -> str:
    return link.rsplit("/", 1)[1]


def _accept(client: TestClient, token: str, password: str = FIRST_PASSWORD) -> Any:
    return client.post("/api/v1/auth/invitations/accept", json={"token": token, "password": password})


def _login_status(client: TestClient, login_value: str, password: str) -> int:
    return int(
        client.post("/api/v1/auth/login", json={"login": login_value, "password": password}).status_code
    )


def _sms_link(database: Database, phone: str) -> str:
    texts = sms_to(database, phone)
    assert texts, f"no SMS to {phone}"
    return next(w for w in texts[-1].split() if "/app/invite/" in w)


def test_invitation_by_email_sets_the_first_password(
    client: TestClient, world: World, database: Database, smtp_server: SmtpServer
) -> None:
    headers = login(client, world.dispatcher)
    email = _email()
    created = _create(client, headers, world, email=email.upper(), patronymic="Петрович", position="Инженер")
    assert created.status_code == 201, created.text
    member = created.json()
    assert member["status"] == "invited" and member["roles"] == ["customer"]
    assert member["email"] == email and member["company_ids"] == [world.company_a]
    assert _login_status(client, email, "anything at all") == 401  # no password until accepted
    drain_jobs(database)
    mail = smtp_server.one_to(email)
    assert "Приглашение" in mail.subject and "Иван Петрович" in mail.text and "72 час" in mail.text
    token = _token(mail.link("/app/invite/"))
    with database.session() as s:
        row = s.scalars(select(Invitation).where(Invitation.member_id == member["id"])).one()
        assert row.token_hash == token_digest(token) and row.channel == "email"
        assert row.expires_at - row.created_at == dt.timedelta(hours=72)
    assert _accept(client, token, "short").status_code == 422  # weak password: the link stays valid
    accepted = _accept(client, token)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["member"]["id"] == member["id"]
    session_headers = {"Authorization": f"Bearer {accepted.json()['token']}"}
    assert client.get("/api/v1/me", headers=session_headers).status_code == 200
    assert _login_status(client, email, FIRST_PASSWORD) == 200
    again = _accept(client, token, "another password")
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "token"
    with database.session() as s:
        account = s.scalars(select(Account).where(Account.email == email)).one()
        assert account.email_verified and not account.phone_verified
    listed = client.get("/api/v1/members", params={"q": email}, headers=headers).json()["items"]
    assert [m["status"] for m in listed] == ["active"]


def test_invitation_by_sms_verifies_the_phone(
    client: TestClient, world: World, database: Database, smtp_server: SmtpServer
) -> None:
    headers = login(client, world.admin)
    phone = new_phone()
    created = _create(client, headers, world, phone=f"8{phone[2:]}", locale="en")
    assert created.status_code == 201, created.text
    assert created.json()["phone"] == phone
    drain_jobs(database)
    link = _sms_link(database, phone)
    assert "72 h" in sms_to(database, phone)[0]
    assert link.startswith(Settings().base_url.rstrip("/") + "/app/invite/")
    assert _accept(client, _token(link)).status_code == 200
    assert _login_status(client, phone, FIRST_PASSWORD) == 200
    # a verified phone can now log in by SMS code too
    assert client.post("/api/v1/auth/sms-code", json={"phone": phone}).status_code == 202
    drain_jobs(database)
    code = code_in(sms_to(database, phone)[-1])
    assert client.post("/api/v1/auth/login-code", json={"phone": phone, "code": code}).status_code == 200


def test_both_channels_get_their_own_link_and_one_acceptance_voids_the_other(
    client: TestClient, world: World, database: Database, smtp_server: SmtpServer
) -> None:
    headers = login(client, world.dispatcher)
    email, phone = _email(), new_phone()
    assert _create(client, headers, world, email=email, phone=phone).status_code == 201
    drain_jobs(database)
    mail_token = _token(smtp_server.one_to(email).link("/app/invite/"))
    sms_token = _token(_sms_link(database, phone))
    assert mail_token != sms_token
    assert _accept(client, sms_token).status_code == 200
    assert _accept(client, mail_token, "other password").status_code == 422
    with database.session() as s:
        account = s.scalars(select(Account).where(Account.email == email)).one()
        assert account.phone_verified and not account.email_verified


def test_invitation_expires_after_72_hours(
    client: TestClient, world: World, database: Database, smtp_server: SmtpServer
) -> None:
    headers = login(client, world.dispatcher)
    email = _email()
    member_id = _create(client, headers, world, email=email).json()["id"]
    drain_jobs(database)
    token = _token(smtp_server.one_to(email).link("/app/invite/"))
    with database.session(write=True) as s:
        for row in s.scalars(select(Invitation).where(Invitation.member_id == member_id)):
            row.expires_at -= dt.timedelta(hours=72, seconds=1)
    assert _accept(client, token).status_code == 422
    assert _login_status(client, email, FIRST_PASSWORD) == 401


def test_resend_voids_the_older_link(
    client: TestClient, world: World, database: Database, smtp_server: SmtpServer
) -> None:
    headers = login(client, world.dispatcher)
    email = _email()
    member_id = _create(client, headers, world, email=email).json()["id"]
    drain_jobs(database)
    resent = client.post(f"/api/v1/members/{member_id}/invitation", headers=headers)
    assert resent.status_code == 202 and resent.json()["status"] == "invited"
    drain_jobs(database)
    first, second = (_token(m.link("/app/invite/")) for m in smtp_server.to(email))
    assert first != second
    assert _accept(client, first).status_code == 422
    assert _accept(client, second).status_code == 200
    assert client.post(f"/api/v1/members/{member_id}/invitation", headers=headers).status_code == 409
    customer = login(client, world.customer_a)  # customers cannot see other customers: not visible → 404
    assert client.post(f"/api/v1/members/{member_id}/invitation", headers=customer).status_code == 404
    with database.session(write=True) as s:
        other = make_world(s)
    other_headers = login(client, other.dispatcher)
    assert client.post(f"/api/v1/members/{member_id}/invitation", headers=other_headers).status_code == 404


def test_existing_account_is_added_with_a_notice_instead_of_a_link(
    client: TestClient, world: World, database: Database, smtp_server: SmtpServer
) -> None:
    with database.session(write=True) as s:
        other = make_world(s)
    headers = login(client, other.dispatcher)
    person = world.customer_b  # has a password in the first tenant
    created = _create(client, headers, other, email=person.login)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "active"
    drain_jobs(database)
    mail = smtp_server.one_to(person.login)
    assert "добавлены" in mail.subject and "/app/invite/" not in mail.text and "/app/" in mail.text
    assert _create(client, headers, other, email=person.login).status_code == 409  # already a member
    response = client.post(
        "/api/v1/auth/login", json={"login": person.login, "password": PASSWORD, "tenant_id": other.tenant_id}
    )
    assert response.status_code == 200 and response.json()["member"]["id"] == created.json()["id"]
    # another tenant cannot attach its own phone to this account (that would hand it the account)
    assert _create(client, headers, other, email=world.customer_a.login, phone=new_phone()).status_code == 422


def test_who_may_create_whom(client: TestClient, world: World, database: Database) -> None:
    dispatcher, admin = login(client, world.dispatcher), login(client, world.admin)
    customer = login(client, world.customer_a)
    assert _create(client, customer, world, email=_email()).status_code == 403
    staff = {"role_codes": ["executor"], "company_ids": [world.own_company], "is_mobile": True}
    assert _create(client, dispatcher, world, email=_email(), **staff).status_code == 403
    created = _create(client, admin, world, email=_email(), **staff)
    assert created.status_code == 201 and created.json()["is_mobile"] is True
    assert (
        _create(client, admin, world, email=_email(), role_codes=["owner"], company_ids=[]).status_code == 403
    )
    bad_bodies: list[dict[str, Any]] = [
        {"company_ids": [world.own_company]},  # customers belong to customer companies
        {"company_ids": []},
        {"company_ids": [999_999_999]},
        {"role_codes": ["nope"]},
        {"role_codes": ["customer", "executor"]},
        {"email": "not-an-email"},
        {"phone": "12"},
        {"unknown": 1},
    ]
    for extra in bad_bodies:
        body = {"email": _email()} | extra
        response = _create(client, dispatcher, world, **body)
        assert response.status_code == 422, (extra, response.text)
    assert _create(client, dispatcher, world).status_code == 422  # neither e-mail nor phone
    with database.session(write=True) as s:
        other = make_world(s)
    foreign = _create(client, dispatcher, world, email=_email(), company_ids=[other.company_a])
    assert foreign.status_code == 422


def test_no_invitation_when_asked_and_idempotent_create(
    client: TestClient, world: World, database: Database, smtp_server: SmtpServer
) -> None:
    headers = login(client, world.dispatcher)
    email = _email()
    quiet = _create(client, headers, world, email=email, invite=False)
    assert quiet.status_code == 201 and quiet.json()["status"] == "invited"
    drain_jobs(database)
    assert smtp_server.to(email) == []
    keyed = headers | {"Idempotency-Key": uuid.uuid4().hex}
    email2 = _email()
    first = _create(client, keyed, world, email=email2)
    second = _create(client, keyed, world, email=email2)
    assert first.status_code == second.status_code == 201 and first.json() == second.json()
    drain_jobs(database)
    assert len(smtp_server.to(email2)) == 1


def test_member_list_is_staff_only_searchable_and_keyset_paged(client: TestClient, world: World) -> None:
    headers = login(client, world.dispatcher)
    tag = uuid.uuid4().hex[:6]
    for first_name in ("Анна", "Борис", "Вера"):
        assert (
            _create(
                client, headers, world, email=_email(), last_name=f"Зуев{tag}", first_name=first_name
            ).status_code
            == 201
        )
    page1 = client.get("/api/v1/members", params={"q": tag.upper(), "limit": 2}, headers=headers)
    assert page1.status_code == 200, page1.text
    body1 = page1.json()
    assert [m["first_name"] for m in body1["items"]] == ["Анна", "Борис"] and body1["next_cursor"]
    page2 = client.get(
        "/api/v1/members", params={"q": tag, "limit": 2, "cursor": body1["next_cursor"]}, headers=headers
    ).json()
    assert [m["first_name"] for m in page2["items"]] == ["Вера"] and page2["next_cursor"] is None
    everyone = client.get("/api/v1/members", params={"limit": 100}, headers=headers).json()["items"]
    assert {world.customer_a.id, world.executor.id} <= {m["id"] for m in everyone}
    assert all(m["tenant_id"] == world.tenant_id for m in everyone)
    assert client.get("/api/v1/members", headers=login(client, world.customer_a)).status_code == 403
    assert client.get("/api/v1/members", params={"page": 2}, headers=headers).status_code in (400, 422)
    assert client.get("/api/v1/members", params={"cursor": "garbage"}, headers=headers).status_code == 422
    assert client.get("/api/v1/members", params={"limit": 1000}, headers=headers).status_code == 422


# --- service level -----------------------------------------------------------------------------


def test_service_create_and_accept(session: Session, sworld: World, settings: Settings) -> None:
    email = _email()
    member = create_member(
        session,
        settings,
        sworld.dispatcher.actor,
        email=email,
        last_name="Сидоров",
        first_name="Пётр",
        role_codes=["customer_admin"],
        company_ids=[sworld.company_b],
    )
    account = session.get(Account, member.account_id)
    assert account is not None and account.password_hash is None
    with pytest.raises(Unauthenticated):  # a password-less account cannot log in, whatever is typed
        authenticate(session, settings, login=email, password="")
    job = session.scalars(select(Job).where(Job.kind == "send_email").order_by(Job.id.desc())).first()
    assert job is not None and job.payload["to"] == email
    token = next(w for w in job.payload["text"].split() if "/app/invite/" in w).rsplit("/", 1)[1]
    with pytest.raises(ValidationFailed):
        accept_invitation(session, token=token + "x", password=FIRST_PASSWORD)
    accepted = accept_invitation(session, token=token, password=FIRST_PASSWORD)
    assert accepted.id == member.id
    assert authenticate(session, settings, login=email, password=FIRST_PASSWORD).id == member.id
    with pytest.raises(Conflict):
        create_member(
            session, settings, sworld.admin.actor, email=email, last_name="X", first_name="Y",
            role_codes=["customer"], company_ids=[sworld.company_a],
        )  # fmt: skip
    with pytest.raises(Forbidden):
        create_member(
            session, settings, sworld.executor.actor, email=_email(), last_name="X", first_name="Y",
            role_codes=["customer"], company_ids=[sworld.company_a],
        )  # fmt: skip


def test_cli_user_create_with_invite(
    world: World,
    database: Database,
    database_url: str,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fixflow.cli import app

    monkeypatch.setenv("FIXFLOW_DATABASE_URL", database_url)
    get_settings.cache_clear()
    email = _email()
    args = ["user", "create", "--tenant", world.slug, "--role", "customer", "--email", email]
    result = CliRunner().invoke(app, [*args, "--company", str(world.company_a), "--invite"])
    assert result.exit_code == 0, result.output
    drain_jobs(database)
    mail = smtp_server.one_to(email)
    with database.session() as s:
        member = s.scalars(
            select(Member).join(Account, Account.id == Member.account_id).where(Account.email == email)
        ).one()
        assert member.tenant_id == world.tenant_id
    assert "/app/invite/" in mail.text
