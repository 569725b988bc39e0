"""Login by SMS code, and the one-time code rules at service level."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from builders import World, make_world
from fixflow.accounts.models import Account
from fixflow.accounts.models_recovery import OneTimeCode
from fixflow.accounts.otp import MAX_TRIES, CodePurpose, consume_code, issue_code
from fixflow.accounts.service import add_member
from fixflow.core.db import Database
from smtp import code_in, drain_jobs, new_phone, set_phone, sms_to


def _ask(client: TestClient, phone: str) -> tuple[int, dict[str, Any]]:
    response = client.post("/api/v1/auth/sms-code", json={"phone": phone})
    return response.status_code, response.json()


def _login(
    client: TestClient, phone: str, code: str, tenant_id: int | None = None
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"phone": phone, "code": code}
    if tenant_id is not None:
        body["tenant_id"] = tenant_id
    response = client.post("/api/v1/auth/login-code", json=body)
    return response.status_code, response.json()


def test_login_by_sms_code(client: TestClient, world: World, database: Database) -> None:
    phone = new_phone()
    set_phone(database, world.customer_a.actor.account_id, phone)
    spaced = f"+7 {phone[2:5]} {phone[5:8]} {phone[8:10]} {phone[10:]}"
    status, body = _ask(client, spaced)
    assert status == 202 and body["expires_in_seconds"] == 600
    drain_jobs(database)
    [text] = sms_to(database, phone)
    assert text.startswith("Код для входа")
    code = code_in(text)
    status, answer = _login(client, spaced, code)
    assert status == 200, answer
    assert answer["member"]["id"] == world.customer_a.id
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {answer['token']}"})
    assert me.status_code == 200 and me.json()["member"]["id"] == world.customer_a.id
    assert _login(client, phone, code)[0] == 401  # single use


def test_no_code_for_unverified_unknown_or_banned_phones_and_the_same_answer(
    client: TestClient, world: World, database: Database
) -> None:
    verified, unverified, unknown, banned = new_phone(), new_phone(), new_phone(), new_phone()
    set_phone(database, world.customer_b.actor.account_id, verified)
    set_phone(database, world.customer_a2.actor.account_id, unverified, verified=False)
    set_phone(database, world.cadmin_b.actor.account_id, banned)
    with database.session(write=True) as s:
        banned_account = s.get(Account, world.cadmin_b.actor.account_id)
        assert banned_account is not None
        banned_account.banned = True
    answers = [_ask(client, p) for p in (verified, unverified, unknown, banned)]
    assert all(a == answers[0] for a in answers)
    drain_jobs(database)
    assert len(sms_to(database, verified)) == 1
    assert sms_to(database, unverified) == sms_to(database, unknown) == sms_to(database, banned) == []
    assert _login(client, unknown, "123456")[0] == 401
    assert client.post("/api/v1/auth/sms-code", json={"phone": "hello"}).status_code == 422


def test_five_wrong_codes_void_the_login_code(client: TestClient, world: World, database: Database) -> None:
    phone = new_phone()
    set_phone(database, world.dispatcher.actor.account_id, phone)
    _ask(client, phone)
    drain_jobs(database)
    code = code_in(sms_to(database, phone)[0])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(MAX_TRIES):
        status, body = _login(client, phone, wrong)
        assert status == 401 and body["detail"] == "Wrong or expired code"
    assert _login(client, phone, code)[0] == 401


def test_new_login_code_not_before_60_s(client: TestClient, world: World, database: Database) -> None:
    phone = new_phone()
    set_phone(database, world.executor.actor.account_id, phone)
    _ask(client, phone)
    _ask(client, phone)
    drain_jobs(database)
    assert len(sms_to(database, phone)) == 1
    with database.session(write=True) as s:
        for row in s.scalars(select(OneTimeCode).where(OneTimeCode.phone == phone)):
            row.created_at -= dt.timedelta(seconds=61)
    _ask(client, phone)
    drain_jobs(database)
    assert len(sms_to(database, phone)) == 2


def test_several_organisations_ask_which_one_without_spending_the_code(
    client: TestClient, world: World, database: Database
) -> None:
    with database.session(write=True) as s:
        other = make_world(s)
        account = s.get(Account, world.customer_a2.actor.account_id)
        assert account is not None
        second = add_member(
            s,
            tenant_id=other.tenant_id,
            account=account,
            role_codes=["customer"],
            company_ids=[other.company_a],
        )
        second_id = second.id
    phone = new_phone()
    set_phone(database, world.customer_a2.actor.account_id, phone)
    _ask(client, phone)
    drain_jobs(database)
    code = code_in(sms_to(database, phone)[0])
    status, body = _login(client, phone, code)
    assert status == 409
    assert {t["id"] for t in body["tenants"]} == {world.tenant_id, other.tenant_id}
    status, answer = _login(client, phone, code, tenant_id=other.tenant_id)
    assert status == 200 and answer["member"]["id"] == second_id


def test_wrong_login_codes_are_throttled_per_phone(client: TestClient, world: World) -> None:
    phone = new_phone()
    statuses = [_login(client, phone, "000000")[0] for _ in range(11)]
    assert statuses == [401] * 10 + [429]


# --- service level -----------------------------------------------------------------------------


def _account(session: Session, world: World) -> Account:
    account = session.get(Account, world.customer_a.actor.account_id)
    assert account is not None
    account.phone = new_phone()
    session.flush()
    return account


def test_codes_are_stored_salted_and_hashed(session: Session, sworld: World) -> None:
    account = _account(session, sworld)
    code = issue_code(session, account, purpose=CodePurpose.RESET, phone=account.phone or "")
    assert code is not None and len(code) == 6 and code.isdigit()
    row = session.scalars(select(OneTimeCode).where(OneTimeCode.account_id == account.id)).one()
    assert code not in row.code_hash and len(row.salt) == 32 and row.tries == 0
    assert row.expires_at - row.created_at == dt.timedelta(minutes=10)
    assert (
        issue_code(session, account, purpose=CodePurpose.RESET, phone=account.phone or "") is None
    )  # < 60 s
    # another purpose has its own clock
    assert issue_code(session, account, purpose=CodePurpose.LOGIN, phone=account.phone or "") is not None


def test_consume_code_counts_tries_and_voids_after_five(session: Session, sworld: World) -> None:
    account = _account(session, sworld)
    code = issue_code(session, account, purpose=CodePurpose.LOGIN, phone=account.phone or "")
    assert code is not None
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    kwargs = {"account_id": account.id, "purpose": CodePurpose.LOGIN}
    assert consume_code(session, code=code, use_up=False, **kwargs)  # type: ignore[arg-type]
    for _ in range(MAX_TRIES - 1):
        assert not consume_code(session, code=wrong, **kwargs)  # type: ignore[arg-type]
    row = session.scalars(select(OneTimeCode).where(OneTimeCode.account_id == account.id)).one()
    session.refresh(row)
    assert row.tries == MAX_TRIES and row.voided_at is not None
    assert not consume_code(session, code=code, **kwargs)  # type: ignore[arg-type]


def test_consume_code_uses_up_and_respects_expiry(session: Session, sworld: World) -> None:
    account = _account(session, sworld)
    kwargs = {"account_id": account.id, "purpose": CodePurpose.LOGIN}
    code = issue_code(session, account, purpose=CodePurpose.LOGIN, phone=account.phone or "")
    assert code is not None
    assert consume_code(session, code=f" {code} ", **kwargs)  # type: ignore[arg-type]
    assert not consume_code(session, code=code, **kwargs)  # type: ignore[arg-type]
    row = session.scalars(select(OneTimeCode).where(OneTimeCode.account_id == account.id)).one()
    row.created_at -= dt.timedelta(minutes=1)
    session.flush()
    fresh = issue_code(session, account, purpose=CodePurpose.LOGIN, phone=account.phone or "")
    assert fresh is not None
    newest = session.scalars(
        select(OneTimeCode).where(OneTimeCode.account_id == account.id).order_by(OneTimeCode.id.desc())
    ).first()
    assert newest is not None
    newest.expires_at -= dt.timedelta(minutes=11)
    session.flush()
    assert not consume_code(session, code=fresh, **kwargs)  # type: ignore[arg-type]
