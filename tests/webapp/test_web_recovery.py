"""«Забыли пароль», «Новый пароль», «Приглашение» and «Войти по коду из SMS» through the HTML forms."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from webtools import csrf, find, find_all, web_login

from builders import PASSWORD, World, login
from fixflow.core.db import Database
from fixflow.objects.qr import create_qr
from smtp import SmtpServer, code_in, drain_jobs, new_phone, set_phone, sms_to

NEW_PASSWORD = "brand new secret"


def submit(client: TestClient, page_url: str, action: str, data: dict[str, str]) -> Any:
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action, data=data | {"csrf_token": csrf(page.text)}, follow_redirects=False)


def can_log_in(client: TestClient, login_value: str, password: str) -> bool:
    response = client.post("/api/v1/auth/login", json={"login": login_value, "password": password})
    return bool(response.status_code == 200)


def test_email_recovery_answers_the_same_for_unknown_logins(client: TestClient, world: World) -> None:
    known = submit(client, "/app/forgot", "/app/forgot", {"login": world.customer_a.login})
    unknown = submit(
        client, "/app/forgot", "/app/forgot", {"login": f"ghost-{uuid.uuid4().hex[:6]}@example.test"}
    )
    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"] == unknown.headers["location"] == "/app/forgot?sent=email"
    notice = find(client.get("/app/forgot?sent=email").text, data_testid="flash").text
    assert notice.startswith("Если с этим e-mail есть учётная запись")


def test_a_login_that_is_neither_phone_nor_email_is_shown_next_to_the_field(client: TestClient) -> None:
    response = submit(client, "/app/forgot", "/app/forgot", {"login": "just words"})
    assert response.status_code == 422
    assert (
        find(response.text, data_testid="field-error-login").text == "Введите номер телефона или адрес e-mail"
    )
    assert find(response.text, id="login")["value"] == "just words"


def test_reset_by_email_link(
    client: TestClient, world: World, database: Database, smtp_server: SmtpServer
) -> None:
    api_headers = login(client, world.customer_a)
    submit(client, "/app/forgot", "/app/forgot", {"login": world.customer_a.login})
    drain_jobs(database)
    link = smtp_server.one_to(world.customer_a.login).link("/app/reset/")
    path = "/app/reset/" + link.rsplit("/", 1)[1]
    page = client.get(path)
    assert page.status_code == 200 and find(page.text, data_testid="reset-form")["action"] == path
    mismatch = client.post(
        path, data={"password": NEW_PASSWORD, "password2": "other", "csrf_token": csrf(page.text)}
    )
    assert mismatch.status_code == 422
    assert find(mismatch.text, data_testid="field-error-password2").text == "Пароли не совпадают"
    short = client.post(path, data={"password": "short", "password2": "short", "csrf_token": csrf(page.text)})
    assert short.status_code == 422 and "не короче 8 символов" in short.text
    done = client.post(
        path,
        data={"password": NEW_PASSWORD, "password2": NEW_PASSWORD, "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/app/login?done=password_reset"
    assert find(client.get(done.headers["location"]).text, data_testid="flash").text.startswith(
        "Пароль изменён"
    )
    assert can_log_in(client, world.customer_a.login, NEW_PASSWORD)
    assert not can_log_in(client, world.customer_a.login, PASSWORD)
    assert client.get("/api/v1/me", headers=api_headers).status_code == 401  # other sessions ended
    spent = client.get(path)
    assert spent.status_code == 422
    assert find(spent.text, data_testid="form-error").text == "Ссылка недействительна или устарела"
    assert find(spent.text, data_testid="forgot-link")["href"] == "/app/forgot"


def test_reset_by_sms_code(client: TestClient, world: World, database: Database) -> None:
    phone = new_phone()
    set_phone(database, world.customer_a2.actor.account_id, phone)
    spaced = f"8 ({phone[2:5]}) {phone[5:8]}-{phone[8:10]}-{phone[10:]}"
    asked = submit(client, "/app/forgot", "/app/forgot", {"login": spaced})
    assert asked.status_code == 303 and asked.headers["location"].startswith("/app/forgot/code?phone=")
    step = client.get(asked.headers["location"])
    assert "мы отправили SMS с кодом" in find(step.text, data_testid="flash").text
    assert find(step.text, tag="input", name="phone")["value"] == phone
    drain_jobs(database)
    code = code_in(sms_to(database, phone)[-1])
    token = csrf(step.text)
    wrong = client.post(
        "/app/forgot/code",
        data={
            "phone": phone,
            "code": "000000" if code != "000000" else "111111",
            "password": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "csrf_token": token,
        },
    )
    assert wrong.status_code == 422
    assert find(wrong.text, data_testid="field-error-code").text == "Неверный или просроченный код"
    done = client.post(
        "/app/forgot/code",
        data={
            "phone": phone,
            "code": code,
            "password": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/app/login?done=password_reset"
    assert can_log_in(client, phone, NEW_PASSWORD)


def test_invitation_sets_the_first_password_and_signs_in(
    client: TestClient, world: World, database: Database, smtp_server: SmtpServer
) -> None:
    headers = login(client, world.dispatcher)
    email = f"invited-{uuid.uuid4().hex[:8]}@example.test"
    created = client.post(
        "/api/v1/members",
        json={
            "last_name": "Новиков",
            "first_name": "Иван",
            "role_codes": ["customer"],
            "company_ids": [world.company_a],
            "email": email,
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    drain_jobs(database)
    path = "/app/invite/" + smtp_server.one_to(email).link("/app/invite/").rsplit("/", 1)[1]
    page = client.get(path)
    assert page.status_code == 200 and find(page.text, data_testid="invite-form")["action"] == path
    token = csrf(page.text)
    weak = client.post(path, data={"password": "short", "password2": "short", "csrf_token": token})
    assert weak.status_code == 422
    accepted = client.post(
        path,
        data={"password": NEW_PASSWORD, "password2": NEW_PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert accepted.status_code == 303 and accepted.headers["location"] == "/app/tickets"
    assert client.get("/app/tickets").status_code == 200
    assert find(client.get("/app/profile").text, data_testid="profile-email").text.endswith(email)
    client.cookies.clear()
    spent = client.get(path)  # the used link says so before a password is typed into it
    assert spent.status_code == 422
    assert find(spent.text, data_testid="form-error").text == "Ссылка недействительна или устарела"
    assert find_all(spent.text, data_testid="invite-form") == []
    again = client.post(
        path, data={"password": NEW_PASSWORD, "password2": NEW_PASSWORD, "csrf_token": csrf(page.text)}
    )
    assert again.status_code in (403, 422)  # the old page's form: refused either way
    unknown = client.get("/app/invite/" + "x" * 43)
    assert unknown.status_code == 422 and find_all(unknown.text, data_testid="invite-form") == []


def test_login_with_an_sms_code(client: TestClient, world: World, database: Database) -> None:
    phone = new_phone()
    set_phone(database, world.customer_b.actor.account_id, phone)
    asked = submit(client, "/app/login/code", "/app/login/code", {"phone": f"+7 {phone[2:]}"})
    assert (
        asked.status_code == 303
        and asked.headers["location"] == f"/app/login/code/verify?phone=%2B{phone[1:]}"
    )
    step = client.get(asked.headers["location"])
    assert find(step.text, data_testid="code-verify-form")
    assert "не чаще раза в минуту" in find(step.text, data_testid="resend-hint").text
    drain_jobs(database)
    code = code_in(sms_to(database, phone)[-1])
    wrong = client.post(
        "/app/login/code/verify", data={"phone": phone, "code": "12345x", "csrf_token": csrf(step.text)}
    )
    assert wrong.status_code == 422 and "Неверный или просроченный код" in wrong.text
    done = client.post(
        "/app/login/code/verify",
        data={"phone": phone, "code": code, "csrf_token": csrf(step.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/app/tickets"
    assert client.get("/app/tickets").status_code == 200


def test_an_sms_code_login_from_a_qr_code_lands_on_its_creation_form(
    client: TestClient, world: World, database: Database
) -> None:
    phone = new_phone()
    set_phone(database, world.customer_a.actor.account_id, phone)
    with database.session(write=True) as s:
        token = create_qr(s, world.dispatcher.actor, world.objects_a[1], ticket_type_id=world.type_id).token
    to_login = client.get(f"/q/{token}", follow_redirects=False)
    assert to_login.status_code in (302, 303, 307)
    login_page = client.get(to_login.headers["location"])
    code_link = find(login_page.text, data_testid="code-login-link")["href"]
    assert "next=" in code_link
    code_page = client.get(code_link)
    sent_next = find(code_page.text, tag="input", name="next")["value"]
    assert token in sent_next
    asked = client.post(
        "/app/login/code", data={"phone": phone, "next": sent_next, "csrf_token": csrf(code_page.text)}
    )
    assert asked.status_code == 200  # followed to the code step, which carries next on
    assert find(asked.text, tag="input", name="next")["value"] == sent_next
    drain_jobs(database)
    done = client.post(
        "/app/login/code/verify",
        data={
            "phone": phone,
            "code": code_in(sms_to(database, phone)[-1]),
            "next": sent_next,
            "csrf_token": csrf(asked.text),
        },
        follow_redirects=False,
    )
    assert done.status_code == 303 and token in done.headers["location"]
    form = client.get(done.headers["location"], follow_redirects=True)
    assert find(form.text, data_testid="picked-object")["data-object-id"] == str(world.objects_a[1])


def test_login_code_request_answers_the_same_for_unknown_phones(client: TestClient) -> None:
    unknown = new_phone()
    asked = submit(client, "/app/login/code", "/app/login/code", {"phone": unknown})
    assert asked.status_code == 303 and "/app/login/code/verify" in asked.headers["location"]
    bad = submit(client, "/app/login/code", "/app/login/code", {"phone": "12"})
    assert bad.status_code == 422
    assert find(bad.text, data_testid="field-error-phone").text == "Неверный номер телефона"


def test_signed_in_members_skip_the_login_screen(client: TestClient, world: World) -> None:
    web_login(client, world.customer_a)
    response = client.get("/app/login", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/app/tickets"
