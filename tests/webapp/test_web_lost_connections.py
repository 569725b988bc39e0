"""A database connection lost between requests (PostgreSQL restarted, a backend terminated) costs no
request an error: the hot reads' held connections and the pool's are replaced on the spot."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from webtools import find, web_login

from builders import World, login, make_ticket
from fixflow.core.db import Database


def _terminate_other_backends(database: Database) -> int:
    with database.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        return len(
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).all()
        )


def test_pages_and_api_survive_terminated_connections(
    client: TestClient, world: World, database: Database
) -> None:
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL's connections")
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
    web_login(client, world.customer_a)
    headers = login(client, world.customer_a)
    for _ in range(3):  # warm: the hot reads now hold their connections
        assert client.get("/app/tickets?tab=all").status_code == 200
        assert client.get("/api/v1/tickets?view=all", headers=headers).status_code == 200
    assert _terminate_other_backends(database) >= 1
    page = client.get("/app/tickets?tab=all")
    assert page.status_code == 200, page.text[:300]
    assert find(page.text, data_testid="ticket-card")
    assert client.get("/api/v1/tickets?view=all", headers=headers).status_code == 200
    assert client.get(f"/app/tickets/{ticket.id}").status_code == 200
    assert client.get(f"/api/v1/tickets/{ticket.id}", headers=headers).status_code == 200
    # The write engine's pooled connections died too; the first read that noticed replaced them.
    assert client.get("/app/profile").status_code == 200
    assert client.get("/api/v1/me", headers=headers).status_code == 200
