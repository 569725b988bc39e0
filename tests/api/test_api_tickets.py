"""Ticket, object, member and catalogue endpoints: behaviour through HTTP (spec/quality.md, domain.md)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from builders import World, assign, login, make_ticket, ticket_in_stage
from fixflow.accounts.models import Role
from fixflow.catalogs.models import Criticality, RatingCriterion, TicketType, WorkType
from fixflow.core.db import Database
from fixflow.objects.models import ServiceObject
from fixflow.tickets.models import Favorite, Ticket, TicketHistory
from fixflow.tickets.service import update_ticket
from fixflow.workflow.models import Stage, Status, Transition

API = "/api/v1"
PROBLEM = "application/problem+json"


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


def keys_anywhere(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_anywhere(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_anywhere(v)}
    return set()


def transition_id(database: Database, ticket_id: int, label: str) -> int:
    with database.session() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        found = s.scalar(
            select(Transition.id).where(
                Transition.from_stage_id == ticket.stage_id, Transition.label == label
            )
        )
    assert found is not None
    return int(found)


def ticket_row(database: Database, ticket_id: int) -> Ticket:
    with database.session() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket


def history_count(database: Database, ticket_id: int) -> int:
    with database.session() as s:
        return int(s.scalar(select(func.count()).where(TicketHistory.ticket_id == ticket_id)) or 0)


# --------------------------------------------------------------------------- lists


def test_list_views_split_tickets_by_tab(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        open_own = make_ticket(s, world, by="customer_a").id
        closed_own = ticket_in_stage(s, world, "Закрыта", by="customer_a").id
        to_approve = ticket_in_stage(s, world, "Согласование", by="customer_a2", approver="customer_a").id
        colleague = make_ticket(s, world, by="customer_a2").id
        other_company = make_ticket(s, world, by="customer_b").id
    h = login(client, world.customer_a)
    assert client.put(f"{API}/tickets/{closed_own}/favorite", headers=h).status_code == 204

    def view(name: str, headers: dict[str, str] = h) -> list[int]:
        return ids(client.get(f"{API}/tickets", params={"view": name}, headers=headers))

    assert view("mine") == [open_own]
    assert view("approval") == [to_approve]
    assert view("all") == [to_approve, open_own]  # newest first; closed ones live in the archive
    assert view("archive") == [closed_own]
    assert view("favorites") == [closed_own]
    assert ids(client.get(f"{API}/tickets", headers=h)) == view("all")  # "all" is the default
    cadmin = login(client, world.cadmin_a)
    assert view("all", cadmin) == [colleague, to_approve, open_own]
    dispatcher = login(client, world.dispatcher)
    assert view("all", dispatcher) == [other_company, colleague, to_approve, open_own]
    problem(client.get(f"{API}/tickets", params={"view": "everything"}, headers=h), 422)


def test_list_filters(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        site_a, pump_a = world.objects_a
        on_site = make_ticket(s, world, by="dispatcher", object_id=site_a, description="Leaking roof").id
        on_pump = make_ticket(s, world, by="dispatcher", object_id=pump_a, description="Pump noise").id
        high = s.scalar(
            select(Criticality.id).where(
                Criticality.tenant_id == world.tenant_id, Criticality.name == "Высокая"
            )
        )
        critical = make_ticket(
            s, world, by="dispatcher", object_id=world.objects_b[1], criticality_id=high
        ).id
        assigned = ticket_in_stage(s, world, "Назначена", by="customer_b")
        late = make_ticket(s, world, by="dispatcher", object_id=pump_a, description="Late one")
        update_ticket(
            s,
            world.dispatcher.actor,
            late,
            version=late.version,
            changes={"deadline": dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)},
        )
        in_work = s.scalar(
            select(Status.id).where(Status.tenant_id == world.tenant_id, Status.name == "В работе")
        )
        numbers = {
            t.id: t.number for t in s.scalars(select(Ticket).where(Ticket.tenant_id == world.tenant_id))
        }
    late_id, assigned_id = late.id, assigned.id
    h = login(client, world.dispatcher)

    def query(**params: Any) -> set[int]:
        return set(ids(client.get(f"{API}/tickets", params=params, headers=h)))

    assert query(q="roof") == {on_site}  # description, any case
    assert query(q="PUMP") == {on_pump, late_id, critical, assigned_id}  # description or object name
    assert query(q="pump a") == {on_pump, late_id}
    assert query(q=numbers[on_pump]) == {on_pump}  # by number
    assert query(q="100%_\\") == set()  # LIKE wildcards are literal
    assert query(object_id=pump_a) == {on_pump, late_id}
    assert query(object_id=site_a) == {on_site, on_pump, late_id}  # a site includes its equipment
    assert query(object_id=999_999_999) == set()
    assert query(criticality_id=high) == {critical}
    assert query(status_id=in_work) == {assigned_id}
    assert query(type_id=world.type_id) == set(numbers)
    assert query(type_id=999_999_999) == set()
    assert query(overdue="true") == {late_id}
    assert query(overdue="false") == set(numbers) - {late_id}
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    assert query(created_from=past) == set(numbers)
    assert query(created_from=future) == set()
    assert query(created_to=past) == set()
    assert query(created_from=past, created_to=future, q="pump a") == {on_pump, late_id}
    naive = problem(
        client.get(f"{API}/tickets", params={"created_from": "2026-01-01T00:00:00"}, headers=h), 422
    )
    assert "created_from" in naive["detail"]
    problem(client.get(f"{API}/tickets", params={"status_id": "x"}, headers=h), 422)


def test_site_b_search_matches_objects_by_name(client: TestClient, world: World, database: Database) -> None:
    """Searching for an object name finds that object's tickets and those of the equipment under it,
    as the cards show it («Site B › Pump B») and as the object filter takes its subtree; not the
    tickets of the object's parent or of other branches."""
    with database.session(write=True) as s:
        on_site = make_ticket(s, world, by="customer_b", object_id=world.site_b).id
        on_pump = make_ticket(s, world, by="customer_b", object_id=world.objects_b[1]).id
        elsewhere = make_ticket(s, world, by="customer_a", object_id=world.objects_a[1]).id
    h = login(client, world.dispatcher)
    assert sorted(ids(client.get(f"{API}/tickets", params={"q": "site b"}, headers=h))) == sorted(
        [on_site, on_pump]
    )
    pump_name = "pump b"
    found = set(ids(client.get(f"{API}/tickets", params={"q": pump_name}, headers=h)))
    assert on_pump in found and on_site not in found and elsewhere not in found


@pytest.mark.parametrize("view", ["all", "archive"])
def test_keyset_pages_have_no_duplicates_or_gaps(
    client: TestClient, world: World, database: Database, view: str
) -> None:
    with database.session(write=True) as s:
        if view == "all":
            expected = [make_ticket(s, world, by="customer_a").id for _ in range(7)]
        else:
            expected = [ticket_in_stage(s, world, "Отказ заказчика", by="customer_a").id for _ in range(7)]
    h = login(client, world.customer_a)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"view": view, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = client.get(f"{API}/tickets", params=params, headers=h).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        pages += 1
        # A ticket filed while paging must not shift the next page.
        if pages == 1:
            with database.session(write=True) as s:
                make_ticket(s, world, by="customer_a")
        if not cursor:
            break
    assert pages == 3
    assert seen == sorted(expected, reverse=True)


def test_counts_match_the_tabs(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        for _ in range(2):
            make_ticket(s, world, by="customer_a")
        ticket_in_stage(s, world, "Отказ заказчика", by="customer_a")
        ticket_in_stage(s, world, "Согласование", by="customer_a2", approver="customer_a")
        make_ticket(s, world, by="customer_b")
    h = login(client, world.customer_a)
    counts = client.get(f"{API}/tickets/counts", headers=h).json()
    assert counts == {"mine": 2, "approval": 1, "all": 3, "favorites": 0, "archive": 1, "cap": 999}
    dispatcher = client.get(f"{API}/tickets/counts", headers=login(client, world.dispatcher)).json()
    assert dispatcher["all"] == 4 and dispatcher["archive"] == 1 and dispatcher["mine"] == 0


# --------------------------------------------------------------------------- create


def test_create_is_idempotent_per_key(client: TestClient, world: World, database: Database) -> None:
    h = login(client, world.customer_a)
    body = {"type_id": world.type_id, "object_id": world.objects_a[1], "description": "Door jammed"}
    first = client.post(f"{API}/tickets", json=body, headers={**h, "Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    again = client.post(f"{API}/tickets", json=body, headers={**h, "Idempotency-Key": "k-1"})
    assert again.status_code == 201 and again.json() == first.json()
    conflict = problem(
        client.post(
            f"{API}/tickets", json={**body, "description": "Other"}, headers={**h, "Idempotency-Key": "k-1"}
        ),
        409,
    )
    assert "Idempotency-Key" in conflict["detail"]
    other = client.post(f"{API}/tickets", json=body, headers={**h, "Idempotency-Key": "k-2"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    # The key belongs to the member: someone else's "k-1" is theirs.
    colleague = login(client, world.customer_a2)
    theirs = client.post(f"{API}/tickets", json=body, headers={**colleague, "Idempotency-Key": "k-1"})
    assert theirs.status_code == 201 and theirs.json()["id"] not in {first.json()["id"], other.json()["id"]}
    without = client.post(f"{API}/tickets", json=body, headers=h)
    assert without.status_code == 201
    problem(client.post(f"{API}/tickets", json=body, headers={**h, "Idempotency-Key": "x" * 201}), 422)
    with database.session() as s:
        count = s.scalar(select(func.count()).where(Ticket.tenant_id == world.tenant_id))
    assert count == 4


def test_a_change_answers_with_the_profile_a_reader_then_gets(client: TestClient, world: World) -> None:
    customer, dispatcher = login(client, world.customer_a), login(client, world.dispatcher)
    body = {"type_id": world.type_id, "object_id": world.objects_a[1], "description": "Door jammed"}
    created = client.post(f"{API}/tickets", json=body, headers=customer)
    assert created.status_code == 201, created.text
    url = f"{API}/tickets/{created.json()['id']}"
    read = client.get(url, headers=customer).json()
    assert [e["status"]["name"] for e in created.json()["timeline"]] == ["Новая"]
    assert created.json() == read
    # A change's own history is in its answer too.
    moved = client.patch(
        url, json={"version": read["version"], "description": "Jammed again"}, headers=dispatcher
    )
    assert moved.status_code == 200, moved.text
    assert moved.json() == client.get(url, headers=dispatcher).json()


def test_create_validates_references(client: TestClient, world: World) -> None:
    h = login(client, world.customer_a)
    body = {
        "type_id": 999_999_999,
        "object_id": world.objects_b[1],
        "description": "x",
        "criticality_id": 999_999_999,
        "work_type_id": 999_999_999,
    }
    errors = problem(client.post(f"{API}/tickets", json=body, headers=h), 422)["errors"]
    assert {e["field"] for e in errors} == {"type_id", "object_id", "criticality_id", "work_type_id"}
    blank = problem(client.post(f"{API}/tickets", json={**body, "description": "   "}, headers=h), 422)
    assert [e["field"] for e in blank["errors"]] == ["description"]
    created = client.post(
        f"{API}/tickets",
        json={"type_id": world.type_id, "object_id": world.objects_a[1], "description": "  Noise  "},
        headers=h,
    )
    assert created.status_code == 201
    data = created.json()
    assert data["description"] == "Noise"
    assert data["initiator"]["id"] == world.customer_a.id and data["source"] == "api"
    assert data["object_path"] == ["Site A", "Pump A"] and data["address"] == "Addr A"
    assert data["criticality"]["name"] == "Средняя"  # the tenant's default
    # Only staff file on someone else's behalf.
    on_behalf = {
        "type_id": world.type_id,
        "object_id": world.objects_a[1],
        "description": "x",
        "initiator_id": world.customer_a2.id,
    }
    problem(client.post(f"{API}/tickets", json=on_behalf, headers=h), 403)
    staff = client.post(f"{API}/tickets", json=on_behalf, headers=login(client, world.dispatcher))
    assert staff.status_code == 201 and staff.json()["initiator"]["id"] == world.customer_a2.id


# --------------------------------------------------------------------------- detail


def test_customers_see_status_never_stage(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = ticket_in_stage(s, world, "Принята", by="customer_a")
    customer = login(client, world.customer_a)
    staff = login(client, world.dispatcher)
    for headers, is_staff in ((customer, False), (login(client, world.cadmin_a), False), (staff, True)):
        detail = client.get(f"{API}/tickets/{ticket.id}", headers=headers).json()
        listing = client.get(f"{API}/tickets", headers=headers).json()
        history = client.get(f"{API}/tickets/{ticket.id}/history", headers=headers).json()
        transitions = client.get(f"{API}/tickets/{ticket.id}/transitions", headers=headers).json()
        for body in (detail, listing, history, transitions):
            assert ("stage" in keys_anywhere(body)) == (
                is_staff and body is not history and body is not transitions
            )
        assert detail["status"]["name"] == "В работе"
        assert all(row["field"] != "stage" for row in history) or is_staff
        assert {row["kind"] for row in history} >= {"created", "status_changed"}
        if is_staff:
            assert detail["stage"]["name"] == "Принята"
            assert listing["items"][0]["stage"]["name"] == "Принята"
            assert any(row["kind"] == "stage_changed" for row in history)
    timeline = client.get(f"{API}/tickets/{ticket.id}", headers=customer).json()["timeline"]
    assert [e["status"]["name"] for e in timeline] == ["Новая", "В работе"]


def test_detail_shape(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world, by="customer_a")
        assign(s, world, ticket, "executor")
    body = client.get(f"{API}/tickets/{ticket.id}", headers=login(client, world.customer_a)).json()
    assert body["id"] == ticket.id and body["number"] == ticket.number and body["version"] == 2
    assert [p["id"] for p in body["executors"]] == [world.executor.id]
    assert body["approver_member"] is None and body["closed_at"] is None  # explicit nulls
    assert dt.datetime.fromisoformat(body["created_at"]).utcoffset() == dt.timedelta(0)
    assert [t["label"] for t in body["transitions"]] == ["Отменить заявку"]
    assert body["is_favorite"] is False and body["can_rate"] is False and body["deleted"] is False
    problem(client.get(f"{API}/tickets/999999999", headers=login(client, world.owner)), 404)


# --------------------------------------------------------------------------- patch


def test_patch_with_stale_version_is_a_conflict(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world, by="customer_a")
    h = login(client, world.dispatcher)
    url = f"{API}/tickets/{ticket.id}"
    ok = client.patch(url, json={"version": 1, "description": "First edit"}, headers=h)
    assert ok.status_code == 200 and ok.json()["version"] == 2 and ok.json()["description"] == "First edit"
    before = history_count(database, ticket.id)
    stale = problem(client.patch(url, json={"version": 1, "description": "Lost edit"}, headers=h), 409)
    assert stale["current_version"] == 2 and stale["type"].endswith("/version-conflict")
    row = ticket_row(database, ticket.id)
    assert (row.description, row.version) == ("First edit", 2)
    assert history_count(database, ticket.id) == before
    problem(client.patch(url, json={"description": "no version"}, headers=h), 422)


def test_patch_executors_and_approver(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world, by="customer_a")
        roles = {r.code: r.id for r in s.scalars(select(Role).where(Role.tenant_id == world.tenant_id))}
    h = login(client, world.dispatcher)
    url = f"{API}/tickets/{ticket.id}"
    body = client.patch(
        url, json={"version": 1, "executor_ids": [world.executor.id, world.executor2.id]}, headers=h
    ).json()
    assert sorted(p["id"] for p in body["executors"]) == sorted([world.executor.id, world.executor2.id])
    body = client.patch(
        url, json={"version": body["version"], "executor_ids": [world.executor2.id]}, headers=h
    ).json()
    assert [p["id"] for p in body["executors"]] == [world.executor2.id]
    # Only field employees of this tenant can execute.
    for wrong in ([world.dispatcher.id], [world.customer_a.id], [999_999_999]):
        problem(client.patch(url, json={"version": body["version"], "executor_ids": wrong}, headers=h), 422)
    assert ticket_row(database, ticket.id).version == body["version"]
    body = client.patch(
        url,
        json={
            "version": body["version"],
            "approver_member_id": world.cadmin_a.id,
            "approver_role_id": roles["customer_admin"],
        },
        headers=h,
    ).json()
    assert body["approver_member"]["id"] == world.cadmin_a.id
    assert body["approver_role"]["id"] == roles["customer_admin"]
    bad = problem(
        client.patch(url, json={"version": body["version"], "approver_member_id": 999_999_999}, headers=h),
        422,
    )
    assert [e["field"] for e in bad["errors"]] == ["approver_member_id"]
    kinds = [r["kind"] for r in client.get(f"{API}/tickets/{ticket.id}/history", headers=h).json()]
    assert kinds.count("executor_added") == 2 and kinds.count("executor_removed") == 1
    # The approver now sees the ticket (approval scope) although cadmin_a would anyway; customer_a2 not.
    problem(client.get(url, headers=login(client, world.customer_a2)), 404)


# --------------------------------------------------------------------------- transitions


def test_transitions_list_and_post(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = ticket_in_stage(s, world, "Назначена", by="customer_a")
    executor = login(client, world.executor)
    url = f"{API}/tickets/{ticket.id}/transitions"
    offered = {t["label"]: t for t in client.get(url, headers=executor).json()}
    assert set(offered) == {"Принять", "Отказаться"}
    assert offered["Отказаться"]["requires_comment"] is True and offered["Отказаться"]["to_status"] is None
    assert offered["Принять"]["to_status"]["name"] == "В работе"
    version = ticket_row(database, ticket.id).version
    before = history_count(database, ticket.id)
    for comment in (None, "   "):
        body = {"transition_id": offered["Отказаться"]["id"], "version": version}
        if comment is not None:
            body["comment"] = comment
        refused = problem(client.post(url, json=body, headers=executor), 422)
        assert [e["field"] for e in refused["errors"]] == ["comment"]
    assert ticket_row(database, ticket.id).version == version and history_count(database, ticket.id) == before
    stale = client.post(
        url, json={"transition_id": offered["Принять"]["id"], "version": version - 1}, headers=executor
    )
    problem(stale, 409)
    moved = client.post(
        url, json={"transition_id": offered["Принять"]["id"], "version": version}, headers=executor
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["stage"]["name"] == "Принята" and moved.json()["version"] == version + 1
    # A transition of another stage is not available (403, nothing changed).
    problem(
        client.post(
            url, json={"transition_id": offered["Принять"]["id"], "version": version + 1}, headers=executor
        ),
        403,
    )
    problem(client.post(url, json={"version": version + 1}, headers=executor), 422)  # neither id given


def test_requirement_not_met_names_the_requirement(
    client: TestClient, world: World, database: Database
) -> None:
    with database.session(write=True) as s:
        new = make_ticket(s, world, by="customer_a")
        in_work = ticket_in_stage(s, world, "В работе", by="customer_a")
    h = login(client, world.dispatcher)
    body = problem(
        client.post(
            f"{API}/tickets/{new.id}/transitions",
            json={"transition_id": transition_id(database, new.id, "Назначить"), "version": new.version},
            headers=h,
        ),
        422,
    )
    assert body["requirement"] == "executor_set" and body["type"].endswith("/requirement-not-met")
    assert ticket_row(database, new.id).stage_id == new.stage_id
    body = problem(
        client.post(
            f"{API}/tickets/{in_work.id}/transitions",
            json={
                "transition_id": transition_id(database, in_work.id, "Завершить работы"),
                "version": in_work.version,
            },
            headers=login(client, world.executor),
        ),
        422,
    )
    assert body["requirement"] == "works_entered"
    body = problem(
        client.post(
            f"{API}/tickets/{in_work.id}/transitions",
            json={
                "transition_id": transition_id(database, in_work.id, "На согласование"),
                "version": in_work.version,
            },
            headers=h,
        ),
        422,
    )
    assert body["requirement"] == "approver_set"
    assert ticket_row(database, in_work.id).version == in_work.version


def test_owner_moves_to_any_stage(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world, by="customer_a")
        assign(s, world, ticket, "executor")
        closed = s.scalar(select(Stage.id).where(Stage.tenant_id == world.tenant_id, Stage.name == "Закрыта"))
    url = f"{API}/tickets/{ticket.id}/transitions"
    body = {"stage_id": closed, "version": 2}
    problem(client.post(url, json=body, headers=login(client, world.dispatcher)), 403)
    moved = client.post(url, json=body, headers=login(client, world.owner))
    assert moved.status_code == 200 and moved.json()["stage"]["name"] == "Закрыта"
    assert moved.json()["closed_at"] is not None


# --------------------------------------------------------------------------- works, favourites


def test_works_only_by_executors(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = ticket_in_stage(s, world, "В работе", by="customer_a")
    url = f"{API}/tickets/{ticket.id}/works"
    work = {
        "work_type_id": world.work_type_id,
        "duration_minutes": 90,
        "quantity": "2.5",
        "comment": " done ",
    }
    created = client.post(url, json=work, headers=login(client, world.executor))
    assert created.status_code == 201, created.text
    data = created.json()
    assert data["member_id"] == world.executor.id and data["comment"] == "done"
    assert Decimal(data["quantity"]) == Decimal("2.5") and isinstance(data["quantity"], str)
    assert Decimal(data["price"]) == Decimal("1500")  # the work type's price, a decimal string
    for who in ("dispatcher", "owner", "customer_a"):
        problem(client.post(url, json=work, headers=login(client, world.people[who])), 403)
    problem(client.post(url, json=work, headers=login(client, world.executor2)), 404)  # not assigned
    executor = login(client, world.executor)
    bad = problem(
        client.post(url, json={**work, "quantity": "0", "duration_minutes": -1}, headers=executor), 422
    )
    assert {e["field"] for e in bad["errors"]} == {"quantity", "duration_minutes"}
    unknown = problem(client.post(url, json={**work, "work_type_id": 999_999_999}, headers=executor), 422)
    assert [e["field"] for e in unknown["errors"]] == ["work_type_id"]
    listed = client.get(url, headers=login(client, world.customer_a)).json()
    assert [w["id"] for w in listed] == [data["id"]]


def test_favorite_is_idempotent(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world, by="customer_a")
    h = login(client, world.customer_a)
    url = f"{API}/tickets/{ticket.id}/favorite"
    for _ in range(2):
        assert client.put(url, headers=h).status_code == 204
    with database.session() as s:
        assert s.scalar(select(func.count()).where(Favorite.ticket_id == ticket.id)) == 1
    assert client.get(f"{API}/tickets/{ticket.id}", headers=h).json()["is_favorite"] is True
    assert ids(client.get(f"{API}/tickets", params={"view": "favorites"}, headers=h)) == [ticket.id]
    # Someone else's favourites are theirs.
    other = login(client, world.dispatcher)
    assert client.get(f"{API}/tickets/{ticket.id}", headers=other).json()["is_favorite"] is False
    for _ in range(2):
        assert client.delete(url, headers=h).status_code == 204
    assert ids(client.get(f"{API}/tickets", params={"view": "favorites"}, headers=h)) == []


# --------------------------------------------------------------------------- rating, history, members


def test_rating(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = ticket_in_stage(s, world, "Выполнена", by="customer_a")
        open_ticket = make_ticket(s, world, by="customer_a")
        criteria = list(
            s.scalars(select(RatingCriterion.id).where(RatingCriterion.tenant_id == world.tenant_id))
        )
    h = login(client, world.customer_a)
    url = f"{API}/tickets/{ticket.id}/rating"
    empty = client.get(url, headers=h).json()
    assert empty["can_rate"] is True and empty["scores"] is None
    assert [c["id"] for c in empty["criteria"]] == criteria
    for stars in (0, 6, -1):
        body = problem(client.put(url, json={"scores": {str(c): stars for c in criteria}}, headers=h), 422)
        assert {e["field"] for e in body["errors"]} == {f"scores.{c}" for c in criteria}
    missing = problem(client.put(url, json={"scores": {str(criteria[0]): 5}}, headers=h), 422)
    assert [e["field"] for e in missing["errors"]] == [f"scores.{criteria[1]}"]
    problem(client.put(url, json={"scores": {str(c): "many" for c in criteria}}, headers=h), 422)
    assert client.get(url, headers=h).json()["scores"] is None  # nothing stored by refused requests
    rated = client.put(
        url, json={"scores": {str(criteria[0]): 5, str(criteria[1]): 3}, "comment": "ok"}, headers=h
    )
    assert rated.status_code == 200, rated.text
    assert rated.json()["score"] == 4.0 and rated.json()["comment"] == "ok"
    again = client.put(url, json={"scores": {str(c): 2 for c in criteria}}, headers=h).json()
    assert again["score"] == 2.0
    detail = client.get(f"{API}/tickets/{ticket.id}", headers=h).json()
    assert detail["rating_score"] == 2.0 and detail["my_rating"]["score"] == 2.0
    problem(
        client.put(
            f"{API}/tickets/{open_ticket.id}/rating",
            json={"scores": {str(c): 5 for c in criteria}},
            headers=h,
        ),
        403,
    )
    member = client.get(f"{API}/members/{world.executor.id}", headers=h).json()
    assert member["rating"] == {"average": 2.0, "rated_tickets": 1}
    assert member["is_mobile"] is True and member["roles"] == ["executor"]


def test_history_lists_every_change_in_order(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = ticket_in_stage(s, world, "Работы выполнены", by="customer_a")
    rows = client.get(f"{API}/tickets/{ticket.id}/history", headers=login(client, world.dispatcher)).json()
    assert rows[0]["kind"] == "created" and [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    kinds = {r["kind"] for r in rows}
    assert {"executor_added", "stage_changed", "status_changed", "work_added"} <= kinds
    assert all(dt.datetime.fromisoformat(r["at"]).tzinfo is not None for r in rows)


def test_members(client: TestClient, world: World) -> None:
    customer = login(client, world.customer_a)
    executor = client.get(f"{API}/members/{world.executor.id}", headers=customer)
    assert executor.status_code == 200
    assert executor.json()["rating"] == {"average": None, "rated_tickets": 0}
    assert client.get(f"{API}/members/{world.customer_a.id}", headers=customer).json()["rating"] is None
    problem(client.get(f"{API}/members/{world.customer_a2.id}", headers=customer), 404)  # another customer
    dispatcher = login(client, world.dispatcher)
    assert client.get(f"{API}/members/{world.customer_a2.id}", headers=dispatcher).status_code == 200
    problem(client.get(f"{API}/members/999999999", headers=dispatcher), 404)


# --------------------------------------------------------------------------- objects, catalogues


def test_objects_list_and_detail(client: TestClient, world: World, database: Database) -> None:
    customer = login(client, world.customer_a)
    staff = login(client, world.dispatcher)
    site_a, pump_a = world.objects_a
    assert ids(client.get(f"{API}/objects", headers=customer)) == [site_a, pump_a]
    assert ids(client.get(f"{API}/objects", headers=staff)) == sorted(world.objects_a + world.objects_b)
    assert ids(client.get(f"{API}/objects", params={"q": "pump"}, headers=staff)) == sorted(
        [pump_a, world.objects_b[1]]
    )
    assert ids(client.get(f"{API}/objects", params={"q": "addr a"}, headers=staff)) == [site_a]
    assert ids(client.get(f"{API}/objects", params={"roots": "true"}, headers=staff)) == sorted(
        [site_a, world.site_b]
    )
    assert ids(client.get(f"{API}/objects", params={"parent_id": site_a}, headers=staff)) == [pump_a]
    assert (
        ids(client.get(f"{API}/objects", params={"company_id": world.company_b}, headers=staff))
        == world.objects_b
    )
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        body = client.get(f"{API}/objects", params=params, headers=staff).json()
        seen += [o["id"] for o in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(world.objects_a + world.objects_b)
    pump = client.get(f"{API}/objects/{pump_a}", headers=customer).json()
    assert pump["path"] == ["Site A", "Pump A"] and pump["parent_id"] == site_a
    assert pump["address"] == "" and pump["effective_address"] == "Addr A" and pump["has_children"] is False
    site = client.get(f"{API}/objects/{site_a}", headers=customer).json()
    assert site["has_children"] is True and site["path"] == ["Site A"]
    with database.session(write=True) as s:
        s.execute(update(ServiceObject).where(ServiceObject.id == pump_a).values(published=False))
    problem(client.get(f"{API}/objects/{pump_a}", headers=customer), 404)  # unpublished: staff only
    assert client.get(f"{API}/objects/{pump_a}", headers=staff).json()["published"] is False
    assert client.get(f"{API}/objects/{site_a}", headers=customer).json()["has_children"] is False


def test_catalogs(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        work_types = {
            w.name: w.id for w in s.scalars(select(WorkType).where(WorkType.tenant_id == world.tenant_id))
        }
        s.execute(
            update(ServiceObject)
            .where(ServiceObject.id == world.objects_a[1])
            .values(allowed_work_type_ids=[work_types["Ремонт"], work_types["Диагностика"]])
        )
        s.execute(
            update(TicketType)
            .where(TicketType.id == world.type_id)
            .values(allowed_work_type_ids=[work_types["Ремонт"], work_types["Техническое обслуживание"]])
        )
    h = login(client, world.customer_a)

    def names(**params: Any) -> list[str]:
        response = client.get(f"{API}/work-types", params=params, headers=h)
        assert response.status_code == 200, response.text
        return [w["name"] for w in response.json()]

    assert names() == sorted(work_types)
    assert names(object_id=world.objects_a[1]) == ["Диагностика", "Ремонт"]
    assert names(type_id=world.type_id) == ["Ремонт", "Техническое обслуживание"]
    assert names(object_id=world.objects_a[1], type_id=world.type_id) == ["Ремонт"]
    assert names(object_id=world.objects_a[0]) == sorted(work_types)  # the site allows everything
    problem(client.get(f"{API}/work-types", params={"object_id": world.objects_b[1]}, headers=h), 404)
    problem(client.get(f"{API}/work-types", params={"type_id": 999_999_999}, headers=h), 404)
    types = client.get(f"{API}/ticket-types", headers=h).json()
    assert [t["id"] for t in types] == [world.type_id]
    assert types[0]["allowed_work_type_ids"] == [work_types["Ремонт"], work_types["Техническое обслуживание"]]
    crit = client.get(f"{API}/criticalities", headers=h).json()
    assert [c["name"] for c in crit] == ["Низкая", "Средняя", "Высокая", "Критическая"]
    assert [c["name"] for c in crit if c["is_default"]] == ["Средняя"]
    criteria = client.get(f"{API}/rating-criteria", headers=h).json()
    assert [c["name"] for c in criteria] == ["Качество выполненных работ", "Оперативность"]
    assert all(c["weight"] > 0 for c in criteria)


def test_delete_hides_ticket_except_from_owner(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world, by="customer_a")
    owner = login(client, world.owner)
    assert client.delete(f"{API}/tickets/{ticket.id}", headers=owner).status_code == 204
    assert client.delete(f"{API}/tickets/{ticket.id}", headers=owner).status_code == 204  # idempotent
    body = client.get(f"{API}/tickets/{ticket.id}", headers=owner).json()
    assert body["deleted"] is True and body["transitions"] == []
    for who in ("admin", "dispatcher", "customer_a"):
        problem(client.get(f"{API}/tickets/{ticket.id}", headers=login(client, world.people[who])), 404)


def test_a_customer_sees_the_reason_they_gave_in_their_history(
    client: TestClient, world: World, database: Database
) -> None:
    with database.session(write=True) as s:
        ticket = ticket_in_stage(s, world, "Работы выполнены", by="customer_a")
    customer = login(client, world.customer_a)
    offered = {
        t["label"]: t["id"]
        for t in client.get(f"{API}/tickets/{ticket.id}/transitions", headers=customer).json()
    }
    body = {
        "transition_id": offered["Не принимать работы"],
        "comment": "Всё ещё течёт",
        "version": ticket.version,
    }
    assert (
        client.post(f"{API}/tickets/{ticket.id}/transitions", json=body, headers=customer).status_code == 200
    )
    rows = client.get(f"{API}/tickets/{ticket.id}/history", headers=customer).json()
    assert "stage_changed" not in {r["kind"] for r in rows}
    assert [r["comment"] for r in rows if r["kind"] == "status_changed"][-1] == "Всё ещё течёт"


def test_the_read_paths_refuse_a_session_ended_a_moment_ago(
    client: TestClient, world: World, database: Database
) -> None:
    """Lists, counters and the profile authenticate on their own read path: a logout counts at once."""
    with database.session(write=True) as s:
        ticket_id = make_ticket(s, world, by="customer_a").id
    headers = login(client, world.customer_a)
    paths = [f"{API}/tickets", f"{API}/tickets/counts", f"{API}/tickets/{ticket_id}"]
    assert [client.get(p, headers=headers).status_code for p in paths] == [200, 200, 200]
    assert client.post(f"{API}/auth/logout", headers=headers).status_code == 204
    refused = [client.get(p, headers=headers) for p in paths]
    assert [r.status_code for r in refused] == [401, 401, 401]
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in refused)
