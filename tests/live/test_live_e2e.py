"""End to end: real server processes (uvicorn), SSE clients over HTTP, changes made by staff.

No timing assertions beyond "arrives within a few seconds" — latency figures belong to bench/live.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from livetools import REDIS_URL, IssueToken, SseReader, api_login, private_channel, server, token_issuer

from builders import World
from fixflow.core.db import Database
from fixflow.tickets.models import Ticket
from fixflow.tickets.service import update_ticket


@pytest.fixture
def issue_token(database: Database) -> IssueToken:
    return token_issuer(database)


@pytest.fixture
def redis_channel() -> str:
    return private_channel()


def create_ticket(base: str, headers: dict[str, str], world: World, object_id: int) -> int:
    body = {"type_id": world.type_id, "object_id": object_id, "description": "Течёт кран"}
    response = httpx.post(f"{base}/api/v1/tickets", json=body, headers=headers, timeout=10)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def assign_executor(base: str, headers: dict[str, str], world: World, ticket_id: int) -> None:
    ticket = httpx.get(f"{base}/api/v1/tickets/{ticket_id}", headers=headers, timeout=10).json()
    body = {"version": ticket["version"], "executor_ids": [world.executor.id]}
    response = httpx.patch(f"{base}/api/v1/tickets/{ticket_id}", json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def live_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server (with its outbox worker) for the tests of this module that need no Redis."""
    with server(database_url, tmp_path_factory.mktemp("live-server"), worker=True) as base:
        yield base


@pytest.fixture
def readers() -> Iterator[list[SseReader]]:
    opened: list[SseReader] = []
    yield opened
    for reader in opened:
        reader.close()


def test_open_screens_receive_changes_of_visible_tickets_only(
    live_server: str, database: Database, world: World, issue_token: IssueToken, readers: list[SseReader]
) -> None:
    base = live_server
    customer_a, customer_b = api_login(base, world.customer_a.login), api_login(base, world.customer_b.login)
    dispatcher = api_login(base, world.dispatcher.login)
    web_cookie = {"fixflow_session": issue_token(world.customer_a, kind="web")}
    a_api = SseReader(f"{base}/api/v1/events", headers=customer_a)
    a_app = SseReader(f"{base}/app/events", cookies=web_cookie)
    b_api = SseReader(f"{base}/api/v1/events", headers=customer_b)
    readers.extend([a_api, a_app, b_api])
    for reader in readers:
        reader.wait_for("ready")
        assert reader.status == 200

    ticket_a = create_ticket(base, customer_a, world, world.objects_a[1])
    assert a_api.wait_for("ticket", ticket_a)["kind"] == "ticket.created"
    a_app.wait_for("ticket", ticket_a)

    assign_executor(base, dispatcher, world, ticket_a)  # staff change: the customer's screen updates
    assert a_api.wait_for("ticket", ticket_a)["kind"].startswith("ticket.")
    a_app.wait_for("ticket", ticket_a)

    ticket_b = create_ticket(base, customer_b, world, world.objects_b[1])
    b_api.wait_for("ticket", ticket_b)
    time.sleep(0.5)
    assert all(data.get("ticket_id") != ticket_b for _, data in a_api.drain() + a_app.drain())
    assert all(data.get("ticket_id") != ticket_a for _, data in b_api.drain())

    # The safety net: a change committed by another process that never publishes to this server
    # (here: this test process) still reaches the screen, through the server's outbox worker.
    with database.session(write=True) as s:
        ticket = s.get(Ticket, ticket_a)
        assert ticket is not None
        update_ticket(
            s, world.dispatcher.actor, ticket, version=ticket.version, changes={"description": "Ещё течёт"}
        )
    assert a_api.wait_for("ticket", ticket_a)["kind"] == "ticket.updated"


def test_streams_need_a_session(live_server: str) -> None:
    base = live_server
    assert httpx.get(f"{base}/api/v1/events", timeout=5).status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert httpx.get(f"{base}/api/v1/events", headers=bad, timeout=5).status_code == 401
    assert httpx.get(f"{base}/app/events", timeout=5).status_code == 401
    assert httpx.get(f"{base}/app/events", cookies={"fixflow_session": "nope"}, timeout=5).status_code == 401
    assert httpx.get(f"{base}/api/v1/events?x=1", headers=bad, timeout=5).status_code in (400, 422)


def test_redis_carries_events_between_server_processes(
    database_url: str, world: World, tmp_path: Path, redis_channel: str, readers: list[SseReader]
) -> None:
    """The stream is on one process, the change happens on another; no outbox worker runs at all,
    so only the commit hook → Redis → the other process's hub can deliver it."""
    with (
        server(database_url, tmp_path, worker=False, redis_url=REDIS_URL, channel=redis_channel) as one,
        server(database_url, tmp_path, worker=False, redis_url=REDIS_URL, channel=redis_channel) as two,
    ):
        customer_on_one = api_login(one, world.customer_a.login)
        stream = SseReader(f"{one}/api/v1/events", headers=customer_on_one)
        readers.append(stream)
        stream.wait_for("ready")
        ticket_id = create_ticket(two, api_login(two, world.customer_a.login), world, world.objects_a[1])
        assert stream.wait_for("ticket", ticket_id)["kind"] == "ticket.created"
