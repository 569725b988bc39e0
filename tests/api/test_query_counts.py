"""Lists, counters and the ticket profile run a fixed number of SQL statements, whatever the page size.

Each endpoint is measured with 3 and with 25 tickets in every tab; the counts must be equal (no N+1) and
stay under a ceiling taken from the measured values, so an extra query per request is noticed too.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from builders import World, assign, login, make_ticket
from fixflow.catalogs.models import Criticality
from fixflow.core.db import Database, utcnow
from fixflow.tickets.models import Ticket
from fixflow.tickets.service import add_favorite
from fixflow.workflow.models import Stage

API = "/api/v1"
# ``count_queries`` is conftest's QueryCounter; it is typed Any because ``from conftest import`` is
# ambiguous once a sub-directory has a conftest.py of its own.
VIEWS = ("mine", "approval", "all", "favorites", "archive")
# Warm requests (tenant configuration, object names and the actor remembered), measured: a list is its
# page statement alone, which also validates the actor (accounts.actorcache), empty or not. Counts are
# one statement, and so is a detail (tickets.detail.load_ticket_profile).
# No room: one more statement per request is a regression worth a look.
CEILING = {"list": 1, "counts": 1, "detail": 1}


def add_tickets(database: Database, world: World, n: int) -> int:
    """``n`` more tickets in each tab of customer_a (and all visible to the dispatcher)."""
    with database.session(write=True) as s:
        stages = {st.name: st.id for st in s.scalars(select(Stage).where(Stage.tenant_id == world.tenant_id))}
        criticalities = list(
            s.scalars(select(Criticality.id).where(Criticality.tenant_id == world.tenant_id))
        )
        last = 0
        for i in range(n):
            mine = make_ticket(
                s,
                world,
                by="customer_a",
                criticality_id=criticalities[i % len(criticalities)],
                object_id=world.objects_a[i % 2],
            )
            add_favorite(s, world.customer_a.actor, mine)
            add_favorite(s, world.dispatcher.actor, mine)
            assign(s, world, mine, "executor", "executor2")
            to_approve = make_ticket(s, world, by="customer_a2")
            closed = make_ticket(s, world, by="customer_a")
            s.flush()
            # Placed straight into their stages: the lifecycle is not what is measured here.
            s.execute(
                update(Ticket)
                .where(Ticket.id == to_approve.id)
                .values(stage_id=stages["Согласование"], approver_member_id=world.customer_a.id)
            )
            s.execute(
                update(Ticket)
                .where(Ticket.id == closed.id)
                .values(stage_id=stages["Закрыта"], closed_at=utcnow())
            )
            last = mine.id
        return last


def measure(client: TestClient, counter: Any, url: str, headers: dict[str, str]) -> list[str]:
    """Statements of a warm request: tenant configuration is cached per process and version."""
    client.get(url, headers=headers)
    with counter:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return list(counter.statements)


def requests(detail_ticket: int) -> dict[str, str]:
    urls = {f"list:{view}": f"{API}/tickets?view={view}&limit=100" for view in VIEWS}
    urls["list:search"] = f"{API}/tickets?view=all&limit=100&q=a"
    urls["counts"] = f"{API}/tickets/counts"
    urls["detail"] = f"{API}/tickets/{detail_ticket}"
    return urls


def explain(small: list[str], large: list[str]) -> str:
    extra = large[len(small) :] if len(large) > len(small) else []
    return f"{len(small)} statements with 3 tickets, {len(large)} with 25; extra:\n" + "\n---\n".join(
        extra[:10]
    )


@pytest.mark.parametrize("who", ["customer_a", "cadmin_a", "dispatcher", "executor"])
def test_statement_counts_do_not_grow_with_the_page(
    client: TestClient, world: World, database: Database, count_queries: Any, who: str
) -> None:
    headers = login(client, world.people[who])
    first = add_tickets(database, world, 3)
    small = {name: measure(client, count_queries, url, headers) for name, url in requests(first).items()}
    add_tickets(database, world, 22)
    large = {name: measure(client, count_queries, url, headers) for name, url in requests(first).items()}
    if who == "customer_a":  # the tabs really hold 25 tickets now, each in one statement
        page = client.get(f"{API}/tickets?view=favorites&limit=100", headers=headers).json()
        assert len(page["items"]) == 25
        assert {name: len(large[name]) for name in large if name.startswith("list:")} == dict.fromkeys(
            [f"list:{view}" for view in VIEWS] + ["list:search"], 1
        )
    for name in small:
        assert len(large[name]) == len(small[name]), f"{name} ({who}): " + explain(small[name], large[name])
    over = {name: len(large[name]) for name in large if len(large[name]) > CEILING[name.split(":")[0]]}
    assert not over, f"{who}: statements over the ceiling {over}"


def test_detail_does_not_grow_with_executors_or_history(
    client: TestClient, world: World, database: Database, count_queries: Any
) -> None:
    with database.session(write=True) as s:
        plain = make_ticket(s, world, by="customer_a")
        busy = make_ticket(s, world, by="customer_a")
        for _ in range(5):
            assign(s, world, busy, "executor")
            assign(s, world, busy, "executor", "executor2")
            assign(s, world, busy, "executor2")
        assign(s, world, busy, "executor", "executor2")
        add_favorite(s, world.dispatcher.actor, busy)
        add_favorite(s, world.dispatcher.actor, plain)
        assign(s, world, plain, "executor")
    for who in ("dispatcher", "customer_a"):
        headers = login(client, world.people[who])
        a = measure(client, count_queries, f"{API}/tickets/{plain.id}", headers)
        b = measure(client, count_queries, f"{API}/tickets/{busy.id}", headers)
        assert len(a) == len(b), explain(a, b)
