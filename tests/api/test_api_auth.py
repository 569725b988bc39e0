"""Login, logout and /me through HTTP: normalised logins, no account enumeration, throttling, tenants."""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from builders import PASSWORD, World, login, make_world
from fixflow.accounts.models import Account
from fixflow.accounts.service import add_member, create_account
from fixflow.app import create_app
from fixflow.config import Settings
from fixflow.core.db import Database

API = "/api/v1"


def post_login(client: TestClient, login_value: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post(f"{API}/auth/login", json={"login": login_value, "password": password, **extra})


def test_login_by_email_in_any_case(client: TestClient, world: World) -> None:
    for variant in (
        world.customer_a.login,
        world.customer_a.login.upper(),
        f"  {world.customer_a.login.title()} ",
    ):
        response = post_login(client, variant)
        assert response.status_code == 200, (variant, response.text)
        body = response.json()
        assert body["member"]["id"] == world.customer_a.id
        assert body["member"]["email"] == world.customer_a.login
        assert len(body["token"]) >= 40  # 256 random bits, URL-safe


def test_login_by_phone_in_usual_formats(client: TestClient, world: World, database: Database) -> None:
    digits = f"{random.randint(0, 9_999_999):07d}"
    with database.session(write=True) as s:
        account = create_account(s, phone=f"+7912{digits}", password=PASSWORD)
        member = add_member(
            s,
            tenant_id=world.tenant_id,
            account=account,
            role_codes=["customer"],
            company_ids=[world.company_a],
            last_name="Phone",
        )
    national = f"(912) {digits[:3]}-{digits[3:5]}-{digits[5:]}"
    for variant in (f"+7912{digits}", f"8 {national}", f"+7 {national}", f"7912{digits}", f"8-912-{digits}"):
        response = post_login(client, variant)
        assert response.status_code == 200, (variant, response.text)
        assert response.json()["member"]["id"] == member.id
        assert response.json()["member"]["phone"] == f"+7912{digits}"


def test_failures_look_the_same_whatever_went_wrong(client: TestClient, world: World) -> None:
    wrong_password = post_login(client, world.customer_a.login, "not the password")
    unknown_email = post_login(client, f"nobody-{uuid.uuid4().hex}@example.test")
    unknown_phone = post_login(client, "+7 999 000 00 00")
    not_a_login = post_login(client, "definitely not a login")
    responses = [wrong_password, unknown_email, unknown_phone, not_a_login]
    assert {r.status_code for r in responses} == {401}
    assert len({r.content for r in responses}) == 1
    assert wrong_password.headers["content-type"].startswith("application/problem+json")
    assert wrong_password.json()["detail"] == "Wrong login or password"


def test_repeated_failures_are_throttled(client: TestClient, world: World) -> None:
    # Settings of the test client: 5 failures per login within the window.
    for _ in range(5):
        assert post_login(client, world.customer_a.login, "wrong").status_code == 401
    for password in ("wrong", PASSWORD):  # even the right password waits now
        response = post_login(client, world.customer_a.login.upper(), password)
        assert response.status_code == 429, response.text
        assert int(response.headers["retry-after"]) > 0
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"].endswith("/throttled")
    # Other logins are not affected, and unknown logins are throttled just the same (no enumeration).
    assert post_login(client, world.customer_a2.login).status_code == 200
    ghost = f"ghost-{uuid.uuid4().hex}@example.test"
    for _ in range(5):
        assert post_login(client, ghost).status_code == 401
    assert post_login(client, ghost).status_code == 429


def test_throttled_per_ip(database: Database, world: World, tmp_path: Path) -> None:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        database_url=database.url,
        run_worker_in_process=False,
        login_failures_per_login=100,
        login_failures_per_ip=3,
    )
    ip = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    with TestClient(create_app(settings, db=database), client=(ip, 40000)) as client:
        for i in range(3):
            assert post_login(client, f"x{i}-{uuid.uuid4().hex}@example.test").status_code == 401
        assert post_login(client, world.customer_a.login).status_code == 429
    with TestClient(create_app(settings, db=database), client=(ip + "1", 40000)) as other:
        assert post_login(other, world.customer_a.login).status_code == 200


def test_account_in_several_tenants_must_choose(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        second = make_world(s)
        third = make_world(s)
        account = s.get(Account, world.customer_a.actor.account_id)
        assert account is not None
        other_member = add_member(
            s,
            tenant_id=second.tenant_id,
            account=account,
            role_codes=["customer_admin"],
            company_ids=[second.company_a],
        )
    response = post_login(client, world.customer_a.login)
    assert response.status_code == 409, response.text
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert body["type"].endswith("/tenant-required")
    assert {t["id"] for t in body["tenants"]} == {world.tenant_id, second.tenant_id}
    assert all(t["name"] for t in body["tenants"])
    chosen = post_login(client, world.customer_a.login, tenant_id=second.tenant_id)
    assert chosen.status_code == 200 and chosen.json()["member"]["id"] == other_member.id
    me = client.get(f"{API}/me", headers={"Authorization": f"Bearer {chosen.json()['token']}"}).json()
    assert me["tenant"]["id"] == second.tenant_id and me["roles"] == ["customer_admin"]
    first = post_login(client, world.customer_a.login, tenant_id=world.tenant_id)
    assert first.status_code == 200 and first.json()["member"]["id"] == world.customer_a.id
    # Only the right password reveals the tenants; a tenant the account is not in is a plain failure.
    generic = post_login(client, world.customer_a.login, "wrong").json()
    assert "tenants" not in generic
    not_member = post_login(client, world.customer_a.login, tenant_id=third.tenant_id)
    assert not_member.status_code == 401 and not_member.json() == generic


def test_logout_revokes_the_token(client: TestClient, world: World) -> None:
    token = login(client, world.dispatcher)
    other = login(client, world.dispatcher)
    assert client.get(f"{API}/me", headers=token).status_code == 200
    assert client.post(f"{API}/auth/logout", headers=token).status_code == 204
    gone = client.get(f"{API}/me", headers=token)
    assert gone.status_code == 401 and gone.headers["www-authenticate"] == "Bearer"
    assert client.post(f"{API}/auth/logout", headers=token).status_code == 401
    assert client.get(f"{API}/me", headers=other).status_code == 200  # only that session ends


def test_me_returns_roles_companies_and_permissions(client: TestClient, world: World) -> None:
    me = client.get(f"{API}/me", headers=login(client, world.customer_a)).json()
    assert me["member"]["id"] == world.customer_a.id and me["tenant"]["id"] == world.tenant_id
    assert me["roles"] == ["customer"] and me["is_staff"] is False
    assert [c["id"] for c in me["companies"]] == [world.company_a]
    assert me["permissions"] == ["ticket.create", "ticket.rate"]
    assert me["scopes"] == ["approval", "own"]
    assert me["locale"] in {"ru", "en"}
    staff = client.get(f"{API}/me", headers=login(client, world.dispatcher)).json()
    assert staff["roles"] == ["dispatcher"] and staff["is_staff"] is True
    assert [c["id"] for c in staff["companies"]] == [world.own_company]
    assert {"ticket.assign", "ticket.update", "ticket.view_stage"} <= set(staff["permissions"])
    assert "ticket.delete" not in staff["permissions"] and staff["scopes"] == ["all"]
    owner = client.get(f"{API}/me", headers=login(client, world.owner)).json()
    assert {"ticket.any_stage", "ticket.view_deleted", "ticket.delete"} <= set(owner["permissions"])
