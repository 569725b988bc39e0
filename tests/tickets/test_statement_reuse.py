"""Lists, counters and profiles reuse one statement per actor shape; nothing of one actor may leak to another.

For every pair of people of the same shape (same scopes, different ids and companies) each list, search
and counter is computed with the statement cache empty, then again right after the other person filled
it: the answers must be identical, and different people must see different things.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from builders import World, make_ticket
from fixflow.core.errors import NotFound
from fixflow.tickets import queries
from fixflow.tickets.listing import TicketFilters, count_views, list_tickets
from fixflow.tickets.models import Ticket
from fixflow.tickets.queries import TicketView, visibility_shape
from fixflow.tickets.service import add_favorite, get_ticket_for_actor

PAIRS = [("customer_a", "customer_b"), ("cadmin_a", "cadmin_b"), ("customer_a", "customer_a2")]


def _answers(session: Session, world: World, who: str) -> dict[str, Any]:
    actor = world.people[who].actor
    out: dict[str, Any] = {"counts": count_views(session, actor)}
    opened = []
    for ticket_id in session.scalars(select(Ticket.id).where(Ticket.tenant_id == world.tenant_id)):
        with contextlib.suppress(NotFound):
            opened.append(get_ticket_for_actor(session, actor, ticket_id).id)
    out["profiles"] = sorted(opened)
    for view in TicketView:
        first = list_tickets(session, actor, view, TicketFilters(), limit=2)
        out[view.value] = [c.id for c in first.items]
        if first.next_cursor:
            rest = list_tickets(session, actor, view, TicketFilters(), limit=2, cursor=first.next_cursor)
            out[f"{view.value}+"] = [c.id for c in rest.items]
    found = list_tickets(session, actor, TicketView.ALL, TicketFilters(q="Течь"))
    out["search"] = [c.id for c in found.items]
    return out


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_a_cached_statement_answers_only_for_whoever_runs_it(
    session: Session, sworld: World, first: str, second: str
) -> None:
    for who in ("customer_a", "customer_b", "customer_a2", "cadmin_a", "cadmin_b"):
        for i in range(3):
            ticket = make_ticket(session, sworld, by=who, description=f"Течь {who} {i}")
            add_favorite(session, sworld.people[who].actor, ticket)
    assert visibility_shape(sworld.people[first].actor) == visibility_shape(sworld.people[second].actor)

    queries._STATEMENTS.clear()
    alone = _answers(session, sworld, second)
    queries._STATEMENTS.clear()
    _answers(session, sworld, first)
    after_other = _answers(session, sworld, second)
    assert after_other == alone
    assert _answers(session, sworld, first) != alone
