"""The hottest reads run with the actor remembered for their token, validated inside their own statement.

Every change of what an actor is built from must show on the very next request: roles, companies,
colleagues, bans, deletion, logout, expiry, the tenant's configuration (role definitions), language.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from builders import World, login, make_ticket
from fixflow.accounts.actor import Actor
from fixflow.accounts.actorcache import run_as_remembered
from fixflow.accounts.models import Account, AuthSession, Member, MemberCompany, MemberRole, Role
from fixflow.accounts.service import add_member, create_account
from fixflow.core.db import Database, utcnow
from fixflow.core.security import token_digest

API = "/api/v1"


def list_ids(client: TestClient, headers: dict[str, str], view: str = "all") -> set[int]:
    response = client.get(f"{API}/tickets?view={view}&limit=100", headers=headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def role_id(database: Database, world: World, code: str) -> int:
    with database.session() as s:
        found = s.scalar(select(Role.id).where(Role.tenant_id == world.tenant_id, Role.code == code))
    assert found is not None
    return int(found)


def give_role(database: Database, member_id: int, new_role_id: int) -> None:
    with database.session(write=True) as s:
        s.execute(update(MemberRole).where(MemberRole.member_id == member_id).values(role_id=new_role_id))


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def remembered_actor(database: Database, headers: dict[str, str]) -> Actor | None:
    """The actor a remembered-actor read runs with now, or None if it had to be resolved afresh."""
    seen: list[Actor] = []
    done, _ = run_as_remembered(
        database.read_session_factory,
        token_digest(token_of(headers)),
        lambda _s, auth: seen.append(auth.actor),
    )
    return seen[-1] if done else None


def test_a_new_role_shows_on_the_next_list(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        own = make_ticket(s, world, by="customer_a").id
        colleagues = make_ticket(s, world, by="customer_a2").id
    headers = login(client, world.customer_a)
    assert list_ids(client, headers) == {own}
    assert remembered_actor(database, headers) is not None  # warm: the next list validates, not resolves

    give_role(database, world.customer_a.id, role_id(database, world, "customer_admin"))
    assert list_ids(client, headers) == {own, colleagues}

    give_role(database, world.customer_a.id, role_id(database, world, "customer"))
    assert list_ids(client, headers) == {own}


def test_an_empty_page_validates_its_actor_in_the_same_statement(
    client: TestClient, world: World, database: Database, count_queries: Any
) -> None:
    with database.session(write=True) as s:
        colleagues = make_ticket(s, world, by="customer_a2").id
    headers = login(client, world.customer_a)
    assert list_ids(client, headers) == set()
    with count_queries:
        body = client.get(f"{API}/tickets?view=all", headers=headers).json()
    assert body == {"items": [], "next_cursor": None}
    assert count_queries.count == 1  # the check came back in the page's head row, not on its own
    give_role(database, world.customer_a.id, role_id(database, world, "customer_admin"))
    assert list_ids(client, headers) == {colleagues}


def test_a_stale_not_found_is_answered_again_with_the_new_rights(
    client: TestClient, world: World, database: Database
) -> None:
    """An error met with a stale actor is no answer: the profile is retried with the fresh one."""
    with database.session(write=True) as s:
        colleagues = make_ticket(s, world, by="customer_a2").id
    headers = login(client, world.customer_a)
    assert client.get(f"{API}/tickets/{colleagues}", headers=headers).status_code == 404
    give_role(database, world.customer_a.id, role_id(database, world, "customer_admin"))
    assert client.get(f"{API}/tickets/{colleagues}", headers=headers).status_code == 200


def test_leaving_a_company_hides_its_tickets_at_once(
    client: TestClient, world: World, database: Database
) -> None:
    with database.session(write=True) as s:
        theirs = make_ticket(s, world, by="customer_a2").id
    headers = login(client, world.cadmin_a)
    assert theirs in list_ids(client, headers)
    with database.session(write=True) as s:
        s.execute(delete(MemberCompany).where(MemberCompany.member_id == world.cadmin_a.id))
    assert theirs not in list_ids(client, headers)


def test_a_new_colleague_renews_a_company_admins_actor(
    client: TestClient, world: World, database: Database
) -> None:
    headers = login(client, world.cadmin_a)
    list_ids(client, headers)
    before = remembered_actor(database, headers)
    assert before is not None and before.colleague_ids is not None
    with database.session(write=True) as s:
        account = create_account(s, email=f"newcomer-{world.slug}@example.com")
        newcomer = add_member(
            s,
            tenant_id=world.tenant_id,
            account=account,
            role_codes=["customer"],
            company_ids=[world.company_a],
        )
        newcomer_id = newcomer.id
    assert remembered_actor(database, headers) is None  # the remembered one no longer holds
    list_ids(client, headers)
    after = remembered_actor(database, headers)
    assert after is not None and after.colleague_ids is not None and newcomer_id in after.colleague_ids


def test_a_language_change_renews_the_actor(client: TestClient, world: World, database: Database) -> None:
    headers = login(client, world.customer_a)
    list_ids(client, headers)
    with database.session(write=True) as s:
        s.execute(update(Member).where(Member.id == world.customer_a.id).values(locale="en"))
    assert remembered_actor(database, headers) is None
    list_ids(client, headers)
    renewed = remembered_actor(database, headers)
    assert renewed is not None and renewed.locale == "en"


def test_a_changed_role_definition_renews_the_actor(
    client: TestClient, world: World, database: Database
) -> None:
    """Role permissions are tenant configuration: editing them moves the configuration version."""
    headers = login(client, world.customer_a)
    list_ids(client, headers)
    with database.session(write=True) as s:
        role = s.get(Role, role_id(database, world, "customer"))
        assert role is not None
        role.permissions = [p for p in role.permissions if p != "ticket.create"]
    assert remembered_actor(database, headers) is None
    list_ids(client, headers)
    renewed = remembered_actor(database, headers)
    assert renewed is not None and "ticket.create" not in renewed.permissions


def refused(client: TestClient, headers: dict[str, str], ticket_id: int) -> list[int]:
    """Status codes of a full page, an empty page (its check comes back in a row of its own), the
    counters and a profile."""
    paths = [
        f"{API}/tickets?view=all",
        f"{API}/tickets?view=archive",
        f"{API}/tickets/counts",
        f"{API}/tickets/{ticket_id}",
    ]
    return [client.get(p, headers=headers).status_code for p in paths]


def test_bans_deletion_and_expiry_end_a_remembered_session_at_once(
    client: TestClient, world: World, database: Database
) -> None:
    with database.session(write=True) as s:
        ticket_id = make_ticket(s, world, by="customer_a").id
    changes: list[Any] = [
        update(Member).where(Member.id == world.customer_a.id).values(banned=True),
        update(Member).where(Member.id == world.customer_a.id).values(deleted_at=utcnow()),
        update(Account).where(Account.id == world.customer_a.actor.account_id).values(banned=True),
        update(AuthSession)
        .where(AuthSession.member_id == world.customer_a.id)
        .values(expires_at=utcnow() - dt.timedelta(seconds=1)),
    ]
    undo: list[Any] = [
        update(Member).where(Member.id == world.customer_a.id).values(banned=False),
        update(Member).where(Member.id == world.customer_a.id).values(deleted_at=None),
        update(Account).where(Account.id == world.customer_a.actor.account_id).values(banned=False),
        None,
    ]
    for change, back in zip(changes, undo, strict=True):
        headers = login(client, world.customer_a)
        assert refused(client, headers, ticket_id) == [200, 200, 200, 200]
        with database.session(write=True) as s:
            s.execute(change)
        assert refused(client, headers, ticket_id) == [401, 401, 401, 401], str(change)
        if back is not None:
            with database.session(write=True) as s:
                s.execute(back)


def test_the_oldest_remembered_actor_goes_first_at_the_cap(
    monkeypatch: Any, client: TestClient, world: World, database: Database
) -> None:
    from fixflow.accounts import actorcache

    monkeypatch.setattr(actorcache, "_remembered", {})
    monkeypatch.setattr(actorcache, "_MAX_REMEMBERED", 2)
    sessions = [login(client, world.customer_a) for _ in range(3)]
    for headers in sessions:
        list_ids(client, headers)
    assert [remembered_actor(database, h) is not None for h in sessions] == [False, True, True]
    assert len(actorcache._remembered) == 2
    assert list_ids(client, sessions[0]) == set()  # resolved again, and the answer is the same
