"""On PostgreSQL the app's read connections run generic plans (``core.db.READ_PLAN_CACHE_MODE``): the
planner no longer sees a search's prefix, so number search and the object filter must still reach
their rows through an index range — a parameterised ``LIKE`` alone would walk the tenant."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from builders import World, make_ticket
from fixflow.core.db import READ_PLAN_CACHE_MODE, Database
from fixflow.core.plans import generic_plan
from fixflow.tickets.listing import TicketFilters, list_tickets
from fixflow.tickets.queries import TicketView
from querycount import QueryCounter


@pytest.fixture(autouse=True)
def _postgres_only(database: Database) -> None:
    if database.dialect != "postgresql":
        pytest.skip("plan cache modes are PostgreSQL's")


def _ticket_statement(
    session: Session, counter: QueryCounter, world: World, filters: TicketFilters
) -> tuple[str, dict[str, Any]]:
    with counter:
        list_tickets(session, world.owner.actor, TicketView.ALL, filters, limit=25)
    found = [
        (s, p) for s, p in zip(counter.statements, counter.parameters, strict=True) if "FROM tickets" in s
    ]
    assert len(found) == 1
    return found[0]


def _index_conditions(plan: str) -> str:
    return "\n".join(re.findall(r"Index Cond: .*", plan))


# A test database is too small for the planner to prefer these indexes; the plans on 1,000,000 tickets
# are checked by the benchmark (bench/explain.py prints the same generic plans). Here: the statements
# carry the ranges such a plan needs, and PostgreSQL accepts them as index conditions of the
# pattern-ops indexes when it has no cheaper choice.
def test_number_search_carries_an_index_range_for_generic_plans(
    session: Session, sworld: World, count_queries: QueryCounter
) -> None:
    ticket = make_ticket(session, sworld)
    prefix = ticket.number[:5]  # "2611-": with its separator, a number prefix
    statement, parameters = _ticket_statement(session, count_queries, sworld, TicketFilters(q=prefix))
    assert "tickets.number ~>=~" in statement and "tickets.number ~<~" in statement
    probe = "SELECT id FROM tickets WHERE number ~>=~ %(f_number_from)s AND number ~<~ %(f_number_to)s"
    plan = _forced_plan(session, probe, parameters, "ix_tickets_tenant_number_pattern")
    assert "~>=~" in _index_conditions(plan) and "~<~" in _index_conditions(plan), plan


def test_object_subtree_carries_an_index_range_for_generic_plans(
    session: Session, sworld: World, count_queries: QueryCounter
) -> None:
    make_ticket(session, sworld, object_id=sworld.objects_a[1])
    statement, parameters = _ticket_statement(
        session, count_queries, sworld, TicketFilters(object_id=sworld.objects_a[0])
    )
    ranges = re.findall(r"objects\.path (~>=~|~<~) %\((\w+)\)s", statement)
    assert [op for op, _ in ranges] == ["~>=~", "~<~"], statement
    names = {op: name for op, name in ranges}
    probe = "SELECT id FROM objects WHERE path ~>=~ %(low)s AND path ~<~ %(high)s"
    bounds = {"low": parameters[names["~>=~"]], "high": parameters[names["~<~"]]}
    plan = _forced_plan(session, probe, bounds, "ix_objects_tenant_path_pattern")
    assert "~>=~" in _index_conditions(plan) and "~<~" in _index_conditions(plan), plan


def _forced_plan(session: Session, probe: str, parameters: dict[str, Any], index: str) -> str:
    session.execute(text("SET LOCAL enable_seqscan = off"))
    session.execute(text("SET LOCAL enable_bitmapscan = off"))
    plan = generic_plan(session.connection(), probe, parameters, analyze=False)
    assert index in plan, plan
    return plan


def _read_connection_setting(database: Database, name: str) -> str:
    """``SHOW name`` on the event loop's read connections (``Database.open_async_reads``)."""

    async def show() -> str:
        await database.open_async_reads()
        try:
            engine = database.async_reads()
            assert engine is not None
            async with engine.connect() as conn:
                return str((await conn.execute(text(f"SHOW {name}"))).scalar_one())
        finally:
            await database.close_async_reads()

    return asyncio.run(show())


def test_the_read_connections_use_the_generic_plan_mode(database: Database) -> None:
    assert (
        _read_connection_setting(database, "plan_cache_mode") == READ_PLAN_CACHE_MODE == "force_generic_plan"
    )


def test_no_connection_compiles_statements_just_in_time(database: Database) -> None:
    # A generic plan takes a LIMIT parameter for a tenth of the rows; a page's estimated cost then
    # crossed jit_above_cost and PostgreSQL spent 10 ms compiling a 26-row read.
    assert _read_connection_setting(database, "jit") == "off"
    with database.engine.connect() as conn:
        assert conn.execute(text("SHOW jit")).scalar_one() == "off"
