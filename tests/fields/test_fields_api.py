"""Additional fields over HTTP: the admin API, typed ticket values, hidden and read-only fields,
required fields on transitions, list filters, objects and companies."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from builders import World, login
from fixflow.accounts.models import Role
from fixflow.core.db import Database
from fixflow.workflow.models import Stage, Transition

API = "/api/v1"
CHOICES = [{"value": "low", "label": "Low"}, {"value": "high", "label": "High"}]


def define(client: TestClient, world: World, code: str, type_: str, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "entity": kw.pop("entity", "ticket"),
        "code": code,
        "name": kw.pop("name", code),
        "type": type_,
    }
    if type_ in ("choice", "multichoice"):
        body["choices"] = CHOICES
    if type_ == "ref":
        body["ref_kind"] = "object"
    body.update(kw)
    response = client.post(f"{API}/fields", json=body, headers=login(client, world.owner))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def create_ticket(client: TestClient, world: World, headers: dict[str, str], fields: dict[str, Any]) -> Any:
    body = {
        "type_id": world.type_id,
        "object_id": world.objects_a[1],
        "description": "Leak",
        "fields": fields,
    }
    return client.post(f"{API}/tickets", json=body, headers=headers)


def errors_of(response: Any) -> dict[str, str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return {e["field"]: e["message"] for e in response.json().get("errors", [])}


def ids_by_name(database: Database, world: World) -> tuple[dict[str, int], dict[str, int]]:
    with database.session() as s:
        roles = dict(s.execute(select(Role.code, Role.id).where(Role.tenant_id == world.tenant_id)).all())
        stages = dict(s.execute(select(Stage.name, Stage.id).where(Stage.tenant_id == world.tenant_id)).all())
    return roles, stages


def put_cells(client: TestClient, world: World, field_id: int, cells: list[dict[str, Any]]) -> Any:
    response = client.put(
        f"{API}/fields/{field_id}/access", json={"cells": cells}, headers=login(client, world.owner)
    )
    assert response.status_code == 200, response.text
    return response.json()


def upload(client: TestClient, headers: dict[str, str], name: str = "a.txt") -> int:
    response = client.post(
        f"{API}/attachments", files={"file": (name, b"hello", "text/plain")}, headers=headers
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


TYPES: list[tuple[str, Any, Any, Any]] = [
    ("string", "  Hello ", "Hello", "two\nlines"),
    ("text", "line 1\r\nline 2", "line 1\nline 2", 123),
    ("integer", 42, 42, "4.5"),
    ("decimal", "12.50", 12.5, "abc"),
    ("date", "2027-01-31", "2027-01-31", "31.01.2027"),
    ("datetime", "2027-01-31T10:00:00+03:00", "2027-01-31T07:00:00+00:00", "tomorrow"),
    ("boolean", True, True, "maybe"),
    ("choice", "high", "high", "nope"),
    ("multichoice", ["high", "low"], ["high", "low"], ["nope"]),
    ("ref", "__object__", "__object_out__", 2_000_000_000),
    ("file", "__file__", "__file_out__", "__foreign_file__"),
]


@pytest.mark.parametrize(("type_", "given", "shown", "invalid"), TYPES, ids=[t[0] for t in TYPES])
def test_each_type_round_trips_typed(
    client: TestClient, world: World, type_: str, given: Any, shown: Any, invalid: Any
) -> None:
    define(client, world, "value", type_)
    headers = login(client, world.dispatcher)
    if given == "__object__":
        given, shown = world.objects_a[0], {"id": world.objects_a[0], "name": "Site A"}
    if given == "__file__":
        given = upload(client, headers, "photo.txt")
        shown = {"id": given, "name": "photo.txt", "content_type": "text/plain", "size": 5}
        invalid = upload(client, login(client, world.executor))  # someone else's upload
    created = create_ticket(client, world, headers, {"value": given})
    assert created.status_code == 201, created.text
    assert created.json()["fields"] == {"value": shown}
    read = client.get(f"{API}/tickets/{created.json()['id']}", headers=headers).json()
    assert read["fields"] == {"value": shown}
    refused = create_ticket(client, world, headers, {"value": invalid})
    assert refused.status_code == 422
    assert list(errors_of(refused)) == ["fields.value"]


def test_hidden_fields_are_absent_from_payloads_history_and_filters(
    client: TestClient, world: World, database: Database
) -> None:
    secret = define(client, world, "secret", "string")
    define(client, world, "public", "string")
    roles, stages = ids_by_name(database, world)
    put_cells(
        client,
        world,
        secret["id"],
        [{"role_id": roles["customer"], "stage_id": stage, "level": "hidden"} for stage in stages.values()],
    )
    customer = login(client, world.customer_a)
    dispatcher = login(client, world.dispatcher)
    ticket = create_ticket(client, world, customer, {}).json()
    patched = client.patch(
        f"{API}/tickets/{ticket['id']}",
        json={"version": ticket["version"], "fields": {"secret": "s3cr3t", "public": "hello"}},
        headers=dispatcher,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["fields"] == {"secret": "s3cr3t", "public": "hello"}
    seen = client.get(f"{API}/tickets/{ticket['id']}", headers=customer)
    assert seen.json()["fields"] == {"public": "hello"}
    assert "s3cr3t" not in seen.text
    history = client.get(f"{API}/tickets/{ticket['id']}/history", headers=customer)
    assert history.status_code == 200
    assert [r["field"] for r in history.json() if (r["field"] or "").startswith("fields.")] == [
        "fields.public"
    ]
    assert "s3cr3t" not in history.text
    staff_history = client.get(f"{API}/tickets/{ticket['id']}/history", headers=dispatcher).json()
    assert {"fields.secret", "fields.public"} <= {r["field"] for r in staff_history}
    listed = client.get(f"{API}/tickets", params={"f.secret": "s3cr3t"}, headers=customer)
    assert listed.status_code == 422 and errors_of(listed) == {"f.secret": "Unknown field"}
    assert "s3cr3t" not in client.get(f"{API}/tickets", headers=customer).text
    listed = client.get(f"{API}/tickets", params={"f.secret": "s3cr3t"}, headers=dispatcher)
    assert [i["id"] for i in listed.json()["items"]] == [ticket["id"]]


def test_read_only_fields_refuse_writes(client: TestClient, world: World, database: Database) -> None:
    field = define(client, world, "note", "string")
    roles, stages = ids_by_name(database, world)
    put_cells(
        client,
        world,
        field["id"],
        [{"role_id": roles["dispatcher"], "stage_id": stages["Новая"], "level": "read"}],
    )
    dispatcher = login(client, world.dispatcher)
    ticket = create_ticket(client, world, login(client, world.owner), {"note": "by owner"}).json()
    refused = client.patch(
        f"{API}/tickets/{ticket['id']}",
        json={"version": ticket["version"], "fields": {"note": "x"}},
        headers=dispatcher,
    )
    assert refused.status_code == 422
    assert errors_of(refused) == {"fields.note": "This field is read-only"}
    refused = create_ticket(client, world, login(client, world.customer_a), {"note": "x"})  # customers: read
    assert errors_of(refused) == {"fields.note": "This field is read-only"}


def test_a_required_field_blocks_the_transition_until_filled(
    client: TestClient, world: World, database: Database
) -> None:
    field = define(client, world, "reason", "string", name="Причина вызова")
    roles, stages = ids_by_name(database, world)
    put_cells(
        client,
        world,
        field["id"],
        [{"role_id": roles["dispatcher"], "stage_id": stages["Назначена"], "level": "required"}],
    )
    dispatcher = login(client, world.dispatcher)
    ticket = create_ticket(client, world, login(client, world.customer_a), {}).json()
    ticket = client.patch(
        f"{API}/tickets/{ticket['id']}",
        json={"version": ticket["version"], "executor_ids": [world.executor.id]},
        headers=dispatcher,
    ).json()
    with database.session() as s:
        transition = s.scalar(
            select(Transition.id).where(
                Transition.from_stage_id == stages["Новая"], Transition.label == "Назначить"
            )
        )
    body = {"transition_id": transition, "version": ticket["version"]}
    refused = client.post(f"{API}/tickets/{ticket['id']}/transitions", json=body, headers=dispatcher)
    assert refused.status_code == 422
    assert refused.json()["field"] == "Причина вызова" and "Причина вызова" in refused.json()["detail"]
    ticket = client.patch(
        f"{API}/tickets/{ticket['id']}",
        json={"version": ticket["version"], "fields": {"reason": "leak"}},
        headers=dispatcher,
    ).json()
    body["version"] = ticket["version"]
    moved = client.post(f"{API}/tickets/{ticket['id']}/transitions", json=body, headers=dispatcher)
    assert moved.status_code == 200, moved.text


def test_admin_api(client: TestClient, world: World, database: Database) -> None:
    owner = login(client, world.owner)
    created = define(client, world, "floor", "integer", validation={"min": 1}, help="Этаж", sort_order=2)
    assert created["validation"] == {"min": 1, "max": None, "max_length": None, "pattern": None}
    assert (created["help"], created["sort_order"], created["ticket_type_ids"]) == ("Этаж", 2, None)
    url = f"{API}/fields/{created['id']}"
    changed = client.patch(url, json={"version": 1, "type": "string"}, headers=owner)
    assert changed.status_code == 422 and errors_of(changed) == {"type": "The type of a field cannot change"}
    changed = client.patch(
        url, json={"version": 1, "name": "Этаж", "required": True, "default": 3}, headers=owner
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["default"], changed.json()["version"]) == ("Этаж", 3, 2)
    assert client.patch(url, json={"version": 1, "name": "stale"}, headers=owner).status_code == 409
    assert client.patch(url, json={"version": 2, "colour": "red"}, headers=owner).status_code == 422
    archived = client.post(f"{url}/archive", headers=owner)
    assert archived.status_code == 200 and archived.json()["archived"] is True
    listed = client.get(
        f"{API}/fields", params={"entity": "ticket", "include_archived": False}, headers=owner
    )
    assert listed.json() == []
    assert [f["code"] for f in client.get(f"{API}/fields", headers=owner).json()] == ["floor"]
    access = client.get(f"{url}/access", headers=owner).json()
    assert access["cells"] == []
    assert access["defaults"] == {"customer": "read", "staff": "required", "staff_at_cancellation": "write"}
    roles, stages = ids_by_name(database, world)
    bad = client.put(
        f"{url}/access",
        json={"cells": [{"role_id": 2_000_000_000, "stage_id": stages["Новая"], "level": "read"}]},
        headers=owner,
    )
    assert bad.status_code == 422 and errors_of(bad) == {"cells.0.role_id": "Unknown role"}
    cell = {"role_id": roles["customer"], "stage_id": stages["Новая"], "level": "hidden"}
    assert put_cells(client, world, created["id"], [cell])["cells"] == [cell]
    for person in (world.dispatcher, world.executor, world.customer_a):
        headers = login(client, person)
        assert client.get(f"{API}/fields", headers=headers).status_code == 403
        assert client.get(url, headers=headers).status_code == 403
        assert (
            client.post(
                f"{API}/fields",
                json={"entity": "ticket", "code": "x", "name": "x", "type": "string"},
                headers=headers,
            ).status_code
            == 403
        )


def test_fields_of_another_tenant_are_not_found(client: TestClient, world: World, database: Database) -> None:
    from builders import make_world

    with database.session(write=True) as s:
        other = make_world(s)
    field = define(client, other, "floor", "integer")
    owner = login(client, world.owner)
    assert client.get(f"{API}/fields/{field['id']}", headers=owner).status_code == 404
    assert (
        client.patch(
            f"{API}/fields/{field['id']}", json={"version": 1, "name": "x"}, headers=owner
        ).status_code
        == 404
    )
    assert client.get(f"{API}/fields/{field['id']}/access", headers=owner).status_code == 404
    assert client.get(f"{API}/fields", headers=owner).json() == []
    # visibility before permission: someone else's id is absent, whoever asks
    assert (
        client.get(f"{API}/fields/{field['id']}", headers=login(client, world.dispatcher)).status_code == 404
    )
    own = define(client, world, "floor", "integer")
    assert client.get(f"{API}/fields/{own['id']}", headers=login(client, world.dispatcher)).status_code == 403


def test_list_filters_over_http(client: TestClient, world: World) -> None:
    define(client, world, "floor", "integer")
    define(client, world, "kind", "choice")
    headers = login(client, world.dispatcher)
    made = [
        create_ticket(client, world, headers, f).json()["id"]
        for f in ({"floor": 1, "kind": "low"}, {"floor": 5, "kind": "high"}, {"floor": 9})
    ]

    def ids(**params: str) -> list[int]:
        response = client.get(f"{API}/tickets", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return sorted(i["id"] for i in response.json()["items"])

    assert ids(**{"f.floor": "5"}) == [made[1]]
    assert ids(**{"f.floor__gte": "2", "f.floor__lte": "9"}) == [made[1], made[2]]
    assert ids(**{"f.kind__in": "low,high"}) == [made[0], made[1]]
    assert ids(**{"f.kind": "high", "f.floor__lte": "5"}) == [made[1]]
    bad = client.get(f"{API}/tickets", params={"f.floor": "many"}, headers=headers)
    assert bad.status_code == 422 and list(errors_of(bad)) == ["f.floor"]


def test_object_and_company_fields_over_http(client: TestClient, world: World) -> None:
    define(client, world, "inventory", "string", entity="object")
    define(client, world, "contract", "date", entity="company")
    dispatcher, customer = login(client, world.dispatcher), login(client, world.customer_a)
    url = f"{API}/objects/{world.site_a}/fields"
    patched = client.patch(url, json={"fields": {"inventory": "INV-7"}}, headers=dispatcher)
    assert patched.status_code == 200 and patched.json() == {"fields": {"inventory": "INV-7"}}
    assert client.get(f"{API}/objects/{world.site_a}", headers=customer).json()["fields"] == {
        "inventory": "INV-7"
    }
    bad = client.patch(url, json={"fields": {"ghost": 1}}, headers=dispatcher)
    assert bad.status_code == 422 and errors_of(bad) == {"fields.ghost": "Unknown field"}
    assert client.patch(url, json={"fields": {"inventory": "x"}}, headers=customer).status_code == 403
    assert (
        client.patch(
            f"{API}/objects/{world.site_b}/fields", json={"fields": {}}, headers=customer
        ).status_code
        == 404
    )
    company_url = f"{API}/companies/{world.company_a}/fields"
    patched = client.patch(
        company_url, json={"fields": {"contract": "2027-05-01"}}, headers=login(client, world.owner)
    )
    assert patched.status_code == 200 and patched.json() == {"fields": {"contract": "2027-05-01"}}
    assert client.get(company_url, headers=customer).json() == {"fields": {"contract": "2027-05-01"}}
    assert client.get(company_url, headers=login(client, world.customer_b)).status_code == 404
    assert (
        client.patch(
            company_url, json={"fields": {"contract": None}}, headers=login(client, world.executor)
        ).status_code
        == 403
    )
