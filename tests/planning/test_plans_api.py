"""The plans API (/api/v1/plans, /api/v1/objects/{id}/planned) and the «Плановые работы» page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from builders import World, login, make_world
from fixflow.accounts.models import Member
from fixflow.accounts.service import issue_session
from fixflow.config import Settings
from fixflow.core.db import Database
from fixflow.objects.models import ServiceObject
from fixflow.planning.models import Plan

API = "/api/v1"
MOSCOW = dt.timezone(dt.timedelta(hours=3))


def tomorrow_local() -> str:
    day = dt.datetime.now(MOSCOW).date() + dt.timedelta(days=1)
    return f"{day.isoformat()}T09:00"


def body(world: World, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "Quarterly pump check",
        "ticket_type_id": world.type_id,
        "work_type_id": world.work_type_id,
        "object_ids": world.objects_a,
        "description": "Check the pump",
        "recurrence": {"freq": "weekly", "interval": 1, "weekdays": [0, 3]},
        "first_local": tomorrow_local(),
    }
    values.update(overrides)
    return values


def create(client: TestClient, world: World, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post(f"{API}/plans", json=body(world, **overrides), headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def fields_of(response: Any) -> set[str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return {e["field"] for e in response.json().get("errors", [])}


def test_create_and_read_a_plan(client: TestClient, world: World) -> None:
    headers = login(client, world.dispatcher)
    plan = create(client, world, headers, executor_ids=[world.executor.id], lead_minutes=120)
    assert plan["rrule"] == "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,TH"
    assert plan["recurrence"] == {
        "freq": "weekly",
        "interval": 1,
        "weekdays": [0, 3],
        "monthly_mode": None,
        "day": None,
        "nth": None,
        "weekday": None,
        "month": None,
        "count": None,
        "until": None,
    }
    assert plan["state"] == "active" and plan["version"] == 1 and plan["lead_minutes"] == 120
    assert plan["first_local"] == tomorrow_local()
    assert [o["id"] for o in plan["objects"]] == world.objects_a
    assert plan["objects"][1]["path"] == ["Site A", "Pump A"]
    assert {o["timezone"] for o in plan["objects"]} == {"Europe/Moscow"}
    assert plan["author"]["id"] == world.dispatcher.id
    assert [e["id"] for e in plan["executors"]] == [world.executor.id]
    assert plan["next_occurrence_at"] is not None and plan["recent_skips"] == []
    again = client.get(f"{API}/plans/{plan['id']}", headers=headers)
    assert again.status_code == 200 and again.json() == plan
    assert client.get(f"{API}/plans/{plan['id']}", headers=login(client, world.executor)).status_code == 200


def test_idempotency_key_replays_the_first_result(
    client: TestClient, world: World, database: Database
) -> None:
    headers = {**login(client, world.dispatcher), "Idempotency-Key": "plan-1"}
    first = client.post(f"{API}/plans", json=body(world), headers=headers)
    second = client.post(f"{API}/plans", json=body(world), headers=headers)
    assert first.status_code == second.status_code == 201 and first.json() == second.json()
    with database.session() as s:
        assert s.scalar(select(func.count()).where(Plan.tenant_id == world.tenant_id)) == 1
    other = client.post(f"{API}/plans", json=body(world, name="Other"), headers=headers)
    assert other.status_code == 409


def test_validation_errors_name_the_fields(client: TestClient, world: World, database: Database) -> None:
    headers = login(client, world.dispatcher)
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"recurrence": {"freq": "weekly"}}, {"recurrence"}),
        ({"recurrence": {"freq": "monthly", "monthly_mode": "day", "day": 32}}, {"recurrence"}),
        ({"recurrence": {"freq": "daily", "weekdays": [1]}}, {"recurrence"}),
        ({"recurrence": {"freq": "hourly"}}, {"recurrence.freq"}),
        ({"first_local": "2026-01-05T09:00:00+03:00"}, {"first_local"}),
        ({"object_ids": []}, {"object_ids"}),
        ({"lead_minutes": -5}, {"lead_minutes"}),
        ({"executor_ids": [world.customer_a.id]}, {"executor_ids"}),
        ({"work_type_id": 2_000_000_000}, {"work_type_id"}),
        ({"surprise": 1}, {"surprise"}),
    ]
    for overrides, expected in cases:
        response = client.post(f"{API}/plans", json=body(world, **overrides), headers=headers)
        assert response.status_code == 422, (overrides, response.text)
        assert fields_of(response) == expected, (overrides, response.json())
    with database.session(write=True) as s:
        obj = s.get(ServiceObject, world.objects_a[1])
        assert obj is not None
        obj.allowed_work_type_ids = [world.work_type_id + 1]
    response = client.post(f"{API}/plans", json=body(world), headers=headers)
    assert response.status_code == 422 and fields_of(response) == {"object_ids.1"}
    assert client.get(f"{API}/plans?sort=name", headers=headers).status_code == 422
    with database.session() as s:
        assert s.scalar(select(func.count()).where(Plan.tenant_id == world.tenant_id)) == 0


def test_list_is_keyset_paged(client: TestClient, world: World) -> None:
    headers = login(client, world.dispatcher)
    ids = [create(client, world, headers, name=f"Plan {i}")["id"] for i in range(3)]
    client.post(f"{API}/plans/{ids[0]}/pause", headers=headers)
    first = client.get(f"{API}/plans?limit=2", headers=headers).json()
    assert [p["id"] for p in first["items"]] == [ids[2], ids[1]]
    second = client.get(
        f"{API}/plans", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
    ).json()
    assert [p["id"] for p in second["items"]] == [ids[0]] and second["next_cursor"] is None
    paused = client.get(f"{API}/plans?state=paused", headers=headers).json()
    assert [p["id"] for p in paused["items"]] == [ids[0]]
    card = first["items"][0]
    assert card["object_ids"] == world.objects_a and card["rrule"].startswith("FREQ=WEEKLY")
    assert client.get(f"{API}/plans?cursor=nonsense", headers=headers).status_code == 422
    assert client.get(f"{API}/plans?state=gone", headers=headers).status_code == 422


def test_patch_needs_the_current_version(client: TestClient, world: World) -> None:
    headers = login(client, world.dispatcher)
    plan = create(client, world, headers)
    url = f"{API}/plans/{plan['id']}"
    changed = client.patch(
        url,
        json={"version": 1, "name": "Renamed", "recurrence": {"freq": "monthly", "monthly_mode": "last_day"}},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Renamed" and changed.json()["version"] == 2
    assert changed.json()["rrule"] == "FREQ=MONTHLY;INTERVAL=1;BYMONTHDAY=-1"
    stale = client.patch(url, json={"version": 1, "name": "Lost"}, headers=headers)
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    bad = client.patch(
        url, json={"version": 2, "recurrence": {"freq": "yearly", "month": 2, "day": 30}}, headers=headers
    )
    assert bad.status_code == 422 and fields_of(bad) == {"recurrence"}
    empty = client.patch(url, json={"version": 2, "object_ids": None}, headers=headers)
    assert empty.status_code == 422 and fields_of(empty) == {"object_ids"}
    assert client.get(url, headers=headers).json()["name"] == "Renamed"


def test_pause_resume_and_delete(client: TestClient, world: World) -> None:
    headers = login(client, world.dispatcher)
    plan = create(client, world, headers)
    url = f"{API}/plans/{plan['id']}"
    paused = client.post(f"{url}/pause", headers=headers).json()
    assert paused["state"] == "paused" and paused["next_occurrence_at"] is None
    resumed = client.post(f"{url}/resume", headers=headers).json()
    assert resumed["state"] == "active" and resumed["resumed_at"] is not None
    assert resumed["next_occurrence_at"] is not None
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 404
    assert client.post(f"{url}/resume", headers=headers).status_code == 404


def test_roles_and_tenants(client: TestClient, world: World, database: Database) -> None:
    headers = login(client, world.dispatcher)
    plan = create(client, world, headers)
    url = f"{API}/plans/{plan['id']}"
    with database.session(write=True) as s:
        stranger = make_world(s)
    for person in (world.customer_a, world.cadmin_a, stranger.dispatcher):
        h = login(client, person)
        for method, path in (("GET", url), ("PATCH", url), ("DELETE", url), ("POST", f"{url}/pause"),
                             ("GET", f"{url}/occurrences")):  # fmt: skip
            response = client.request(method, path, json={"version": 1}, headers=h)
            assert response.status_code == 404, (person.login, method, path, response.text)
    customer = login(client, world.customer_a)
    assert client.get(f"{API}/plans", headers=customer).status_code == 403
    assert client.post(f"{API}/plans", json=body(world), headers=customer).status_code == 403
    executor = login(client, world.executor)
    assert client.post(f"{API}/plans", json=body(world), headers=executor).status_code == 403
    assert client.post(f"{url}/pause", headers=executor).status_code == 403
    assert client.get(f"{API}/plans").status_code == 401
    assert client.get(f"{API}/plans", headers=login(client, stranger.dispatcher)).json()["items"] == []


def test_occurrences_are_computed(client: TestClient, world: World) -> None:
    headers = login(client, world.dispatcher)
    plan = create(client, world, headers, recurrence={"freq": "daily"})
    day = dt.date.fromisoformat(tomorrow_local()[:10])
    start = dt.datetime.combine(day, dt.time(0), MOSCOW)
    params = {"from": start.isoformat(), "to": (start + dt.timedelta(days=2)).isoformat()}
    response = client.get(f"{API}/plans/{plan['id']}/occurrences", params=params, headers=headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert len(items) == 4 and {i["status"] for i in items} == {"planned"}
    assert items[0]["local_at"] == f"{day.isoformat()}T09:00:00+03:00"
    assert items[0]["at"] in (f"{day.isoformat()}T06:00:00Z", f"{day.isoformat()}T06:00:00+00:00")
    assert items[0]["object"]["id"] in world.objects_a and items[0]["plan"]["id"] == plan["id"]
    default = client.get(f"{API}/plans/{plan['id']}/occurrences?limit=3", headers=headers).json()["items"]
    assert len(default) == 3
    naive = client.get(
        f"{API}/plans/{plan['id']}/occurrences", params={"from": "2026-01-01T00:00"}, headers=headers
    )
    assert naive.status_code == 422
    backwards = {"from": params["to"], "to": params["from"]}
    assert (
        client.get(f"{API}/plans/{plan['id']}/occurrences", params=backwards, headers=headers).status_code
        == 422
    )
    assert client.get(f"{API}/plans/{plan['id']}/occurrences?limit=0", headers=headers).status_code == 422


def test_customers_see_planned_work_of_their_objects_only(
    client: TestClient, world: World, database: Database
) -> None:
    headers = login(client, world.dispatcher)
    create(client, world, headers, object_ids=[world.objects_a[1]], recurrence={"freq": "daily"})
    create(client, world, headers, object_ids=[world.objects_b[1]], recurrence={"freq": "daily"})
    with database.session(write=True) as s:
        stranger = make_world(s)
    customer = login(client, world.customer_a)
    own = client.get(f"{API}/objects/{world.objects_a[1]}/planned", headers=customer)
    assert own.status_code == 200, own.text
    items = own.json()["items"]
    assert 58 <= len(items) <= 60 and {i["object"]["id"] for i in items} == {world.objects_a[1]}
    assert all(i["ticket_id"] is None and i["reason"] is None for i in items)
    for object_id in (world.objects_b[1], stranger.objects_a[1], 2_000_000_000):
        response = client.get(f"{API}/objects/{object_id}/planned", headers=customer)
        assert response.status_code == 404, object_id
    staff = client.get(f"{API}/objects/{world.objects_b[1]}/planned?limit=5", headers=headers)
    assert staff.status_code == 200 and len(staff.json()["items"]) == 5
    assert (
        client.get(f"{API}/objects/{world.objects_a[1]}/planned?when=now", headers=customer).status_code
        == 422
    )


def test_the_customer_app_lists_planned_work(
    client: TestClient, world: World, database: Database, settings: Settings
) -> None:
    headers = login(client, world.dispatcher)
    create(
        client, world, headers, name="Own plan", object_ids=[world.objects_a[1]], recurrence={"freq": "daily"}
    )
    create(client, world, headers, name="Foreign plan", object_ids=[world.objects_b[1]])
    assert client.get("/app/planned", follow_redirects=False).status_code == 303
    with database.session(write=True) as s:
        member = s.get(Member, world.customer_a.id)
        assert member is not None
        token = issue_session(s, settings, member, kind="web").token
    client.cookies.set("fixflow_session", token)
    page = client.get("/app/planned")
    assert page.status_code == 200, page.text
    assert "Own plan" in page.text and "Foreign plan" not in page.text
    assert "Site A / Pump A" in page.text and "09:00" in page.text
    assert page.text.count('data-testid="planned-day"') >= 58
    client.cookies.clear()
