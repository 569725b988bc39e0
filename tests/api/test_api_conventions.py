"""API conventions of spec/quality.md: strict inputs, problem JSON errors, paging limits, docs, health."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from builders import World, login, make_ticket, make_world, ticket_in_stage
from fixflow.app import create_app
from fixflow.config import Settings
from fixflow.core.db import Database

API = "/api/v1"
PROBLEM_KEYS = {"type", "title", "status", "detail"}


# These tests only read or add tickets of their own, so one tenant and one app serve the module.
@pytest.fixture(scope="module")
def client(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(
        env="test",
        data_dir=tmp_path_factory.mktemp("conventions"),
        database_url=database.url,
        run_worker_in_process=False,
    )
    with TestClient(create_app(settings, db=database)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def world(database: Database) -> World:
    with database.session(write=True) as s:
        return make_world(s)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["type"].startswith("https://") and body["title"] and body["detail"]
    return body


def fields_of(body: dict[str, Any]) -> list[str]:
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, body
    assert all(set(e) == {"field", "message"} and e["message"] for e in errors)
    return [e["field"] for e in errors]


def encode(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "path",
    [
        "/tickets",
        "/tickets/counts",
        "/me",
        "/objects",
        "/ticket-types",
        "/work-types",
        "/criticalities",
        "/rating-criteria",
        "/tickets/{ticket}",
        "/tickets/{ticket}/history",
        "/members/{member}",
    ],
)
def test_unknown_query_parameters_are_rejected(
    client: TestClient, world: World, database: Database, path: str
) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
    url = API + path.format(ticket=ticket.id, member=world.customer_a.id)
    h = login(client, world.customer_a)
    assert client.get(url, headers=h).status_code == 200
    body = assert_problem(client.get(url, params={"sort": "id", "limit_": "5"}, headers=h), 422)
    assert "limit_" in body["detail"] and "sort" in body["detail"]
    assert sorted(fields_of(body)) == ["limit_", "sort"]


def test_unknown_body_fields_are_rejected(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
        done = ticket_in_stage(s, world, "Выполнена")
    h = login(client, world.dispatcher)
    base = {"type_id": world.type_id, "object_id": world.objects_a[1], "description": "x"}
    cases = [
        ("POST", f"{API}/tickets", {**base, "priority": 1}, "priority"),
        ("PATCH", f"{API}/tickets/{ticket.id}", {"version": ticket.version, "status_id": 1}, "status_id"),
        (
            "POST",
            f"{API}/tickets/{ticket.id}/transitions",
            {"version": 1, "transition_id": 1, "force": True},
            "force",
        ),
        ("POST", f"{API}/tickets/{ticket.id}/works", {"work_type_id": world.work_type_id, "cost": 1}, "cost"),
        ("PUT", f"{API}/tickets/{done.id}/rating", {"scores": {}, "stars": 5}, "stars"),
        ("POST", f"{API}/auth/login", {"login": "a@b.cd", "password": "x", "remember": True}, "remember"),
    ]
    for method, url, body, extra in cases:
        response = client.request(method, url, json=body, headers=h)
        problem = assert_problem(response, 422)
        assert extra in fields_of(problem), (url, problem)
    with database.session() as s:
        from fixflow.tickets.models import Ticket

        row = s.get(Ticket, ticket.id)
        assert row is not None and row.version == ticket.version  # nothing applied


def test_validation_errors_name_the_fields(client: TestClient, world: World) -> None:
    h = login(client, world.customer_a)
    body = assert_problem(client.post(f"{API}/tickets", json={"type_id": "x"}, headers=h), 422)
    assert sorted(fields_of(body)) == ["description", "object_id", "type_id"]
    assert body["type"].endswith("/validation-error")
    not_json = client.post(
        f"{API}/tickets", content=b"{nope", headers={**h, "content-type": "application/json"}
    )
    assert_problem(not_json, 422)
    assert fields_of(assert_problem(client.get(f"{API}/tickets/abc", headers=h), 422)) == ["ticket_id"]


@pytest.mark.parametrize("path", ["/tickets", "/objects"])
def test_limit_is_bounded(client: TestClient, world: World, path: str) -> None:
    h = login(client, world.dispatcher)
    for limit in (1, 100):
        assert client.get(API + path, params={"limit": limit}, headers=h).status_code == 200
    for limit in (0, 101, 1000, -1):
        body = assert_problem(client.get(API + path, params={"limit": limit}, headers=h), 422)
        assert fields_of(body) == ["limit"]
    assert_problem(client.get(API + path, params={"limit": "many"}, headers=h), 422)


@pytest.mark.parametrize(("path", "view"), [("/tickets", "all"), ("/tickets", "archive"), ("/objects", None)])
def test_bad_cursors_are_rejected(client: TestClient, world: World, path: str, view: str | None) -> None:
    h = login(client, world.dispatcher)
    bad = [
        "not-base64!",
        "%%%",
        encode({"id": 1}),
        encode([1, 2, 3]),
        encode("x"),
        encode(["x"]),
        encode([None]),
        encode(["x", "y"]),
        encode(["2026-01-01T00:00:00+00:00", "x"]),
        encode(["2026-01-01T00:00:00", 5]),
        encode([[1], 2]),
        "",
    ]
    for cursor in bad:
        params = {"cursor": cursor, **({"view": view} if view else {})}
        response = client.get(API + path, params=params, headers=h)
        if cursor == "":
            assert response.status_code == 200  # an empty cursor is the first page
            continue
        body = assert_problem(response, 422)
        assert fields_of(body) == ["cursor"], (cursor, body)


def test_every_error_is_problem_json(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
    h = login(client, world.customer_a)
    dispatcher = login(client, world.dispatcher)
    samples = {
        401: client.get(f"{API}/me"),
        403: client.patch(f"{API}/tickets/{ticket.id}", json={"version": 1, "description": "x"}, headers=h),
        404: client.get(f"{API}/tickets/999999999", headers=h),
        405: client.put(f"{API}/tickets", headers=h),
        409: client.patch(
            f"{API}/tickets/{ticket.id}", json={"version": 99, "description": "x"}, headers=dispatcher
        ),
        422: client.get(f"{API}/tickets", params={"limit": 0}, headers=h),
    }
    for status, response in samples.items():
        assert_problem(response, status)
    assert_problem(client.get(f"{API}/no-such-thing", headers=h), 404)
    assert_problem(client.get(f"{API}/no-such-thing"), 404)


def test_openapi_lists_every_api_path(client: TestClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    app = client.app
    assert isinstance(app, FastAPI)
    routes = {
        (method.lower(), context.path)
        for context in iter_route_contexts(app.routes)
        if context.path and context.path.startswith(API + "/")
        for method in context.methods or ()
        if method != "HEAD"
    }
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert routes and routes <= documented
    assert {f"{API}/tickets", f"{API}/tickets/{{ticket_id}}", f"{API}/auth/login", f"{API}/me"} <= set(
        document["paths"]
    )
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    assert "/api/openapi.json" in docs.text


def test_health_and_readiness(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


def test_json_shape_conventions(client: TestClient, world: World, database: Database) -> None:
    """snake_case keys, explicit nulls, times with an offset, list items carry their id."""
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
    h = login(client, world.dispatcher)
    detail = client.get(f"{API}/tickets/{ticket.id}", headers=h).json()
    assert detail["approver_role"] is None and detail["completed_at"] is None
    assert detail["created_at"].endswith(("+00:00", "Z"))
    page = client.get(f"{API}/tickets", params={"limit": 100}, headers=h).json()
    assert set(page) == {"items", "next_cursor"} and page["next_cursor"] is None
    assert all("id" in item for item in page["items"])

    def keys(value: Any) -> set[str]:
        if isinstance(value, dict):
            return set(value) | {k for v in value.values() for k in keys(v)}
        if isinstance(value, list):
            return {k for v in value for k in keys(v)}
        return set()

    for key in keys(detail) | keys(page):
        assert key == key.lower() and "-" not in key, key


def test_the_ticket_list_validates_and_documents_its_query(client: TestClient, world: World) -> None:
    """The list validates its query with one model itself (speed); errors and OpenAPI stay FastAPI's."""
    h = login(client, world.dispatcher)
    bad = {"view": "everything", "status_id": "abc", "overdue": "perhaps", "created_from": "yesterday"}
    body = assert_problem(client.get(f"{API}/tickets", params=bad, headers=h), 422)
    assert sorted(fields_of(body)) == sorted(bad)
    assert_problem(client.get(f"{API}/tickets", params={"q": "x" * 201}, headers=h), 422)
    ok = {
        "view": "archive",
        "status_id": "1",
        "overdue": "false",
        "created_from": "2026-01-01T00:00:00+03:00",
    }
    assert client.get(f"{API}/tickets", params=ok, headers=h).status_code == 200
    documented = client.get("/api/openapi.json").json()["paths"]["/api/v1/tickets"]["get"]["parameters"]
    by_name = {p["name"]: p for p in documented}
    assert set(by_name) >= {"view", "q", "status_id", "created_from", "overdue", "limit", "cursor"}
    assert by_name["view"]["schema"]["default"] == "all"
    assert "archive" in by_name["view"]["schema"]["enum"]


def test_the_list_query_model_names_every_ticket_filter() -> None:
    """The endpoint builds TicketFilters from the model by name: a filter added to one must be in both."""
    from dataclasses import fields

    from fixflow.tickets.api_reads import _PAGING
    from fixflow.tickets.listing import TicketFilters
    from fixflow.tickets.schemas import TicketListQuery

    assert set(TicketListQuery.model_fields) - _PAGING == {f.name for f in fields(TicketFilters)} - {
        "field_filters"
    }
