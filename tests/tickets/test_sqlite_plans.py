"""SQLite's plans of a company's list: each scope branch reads its own index.

A company's scope is a union of branches (its objects, its members' tickets, approvals), each cut to the
page before the union. Ordered by the bare id, SQLite preferred walking all the tenant's open tickets in
id order until a branch's page was full — for a rare branch, every open ticket of the tenant.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from builders import World
from fixflow.core.db import Database
from fixflow.tickets.listing import TicketFilters, list_tickets_with_counts
from fixflow.tickets.queries import TicketView
from querycount import QueryCounter

WALK_OF_ALL_OPEN = "USING INDEX ix_tickets_tenant_open (tenant_id=? AND closed_at=?)"


@pytest.mark.parametrize("view", [TicketView.ALL, TicketView.MINE, TicketView.APPROVAL])
def test_no_branch_walks_the_tenants_open_tickets(
    session: Session, sworld: World, database: Database, view: TicketView
) -> None:
    if database.dialect != "sqlite":
        pytest.skip("SQLite's planner (PostgreSQL's plans: test_generic_plans.py)")
    actor = sworld.cadmin_a.actor
    with QueryCounter(database) as counter:
        list_tickets_with_counts(session, actor, view, TicketFilters(), counted=(TicketView.APPROVAL,))
    # the page's statement (the others read the cards' object names)
    statement, parameters = max(
        zip(counter.statements, counter.parameters, strict=True), key=lambda sp: len(sp[0])
    )
    explained = session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
    plan = [row[-1] for row in explained]
    if view is TicketView.ALL:  # «Мои» and «Согласование» need no company branch (view_branches)
        assert any("ix_tickets_company_open" in line for line in plan), plan
    assert not [line for line in plan if line.endswith(WALK_OF_ALL_OPEN)], plan
