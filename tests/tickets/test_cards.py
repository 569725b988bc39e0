"""List cards are remembered per process by the row they come from: a card changes with its row, the
clock and the configuration, and is the same object when nothing did."""

from __future__ import annotations

import datetime as dt

import pytest

from builders import World, make_ticket
from fixflow.core.db import Database
from fixflow.tickets import listing
from fixflow.tickets.listing import TicketCard, TicketFilters, list_tickets
from fixflow.tickets.models import Ticket
from fixflow.tickets.queries import TicketView
from fixflow.tickets.service import add_favorite
from fixflow.workflow.models import Status


def _card(database: Database, world: World, ticket_id: int, who: str = "customer_a") -> TicketCard:
    with database.session() as s:
        actor = getattr(world, who).actor
        page = list_tickets(s, actor, TicketView.ALL, TicketFilters(), limit=100)
        (card,) = [c for c in page.items if c.id == ticket_id]
        return card


def test_an_unchanged_row_gives_the_same_card_and_a_change_a_new_one(
    world: World, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world, by="customer_a", description="Течёт кран")
        ticket_id, status_id = ticket.id, ticket.status_id
    first = _card(database, world, ticket_id)
    assert _card(database, world, ticket_id) is first  # remembered
    assert _card(database, world, ticket_id, "dispatcher").stage is not None  # staff see the stage
    assert first.stage is None

    with database.session(write=True) as s:
        add_favorite(s, world.customer_a.actor, s.get_one(Ticket, ticket_id))
    favourite = _card(database, world, ticket_id)
    assert favourite.is_favorite and not first.is_favorite

    with database.session(write=True) as s:
        s.get_one(Ticket, ticket_id).description = "Течёт сильнее"
    assert _card(database, world, ticket_id).description == "Течёт сильнее"

    # The row alone does not say whether a ticket is overdue: the clock does too.
    with database.session(write=True) as s:
        s.get_one(Ticket, ticket_id).deadline = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert not _card(database, world, ticket_id).is_overdue
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    monkeypatch.setattr(listing, "utcnow", lambda: later)
    assert _card(database, world, ticket_id).is_overdue

    # A renamed status is a new configuration: no remembered card shows the old name.
    with database.session(write=True) as s:
        s.get_one(Status, status_id).name = "Принята к рассмотрению"
    assert _card(database, world, ticket_id).status.name == "Принята к рассмотрению"


def test_uncommitted_configuration_is_never_remembered(world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world, by="customer_a")
        ticket_id, status_id = ticket.id, ticket.status_id
    before = _card(database, world, ticket_id).status.name
    session = database.session_factory()
    try:
        session.get_one(Status, status_id).name = "Черновик, который откатят"
        session.flush()
        page = list_tickets(session, world.customer_a.actor, TicketView.ALL, TicketFilters(), limit=100)
        (draft,) = [c for c in page.items if c.id == ticket_id]
        assert draft.status.name == "Черновик, который откатят"
    finally:
        session.rollback()
        session.close()
    assert _card(database, world, ticket_id).status.name == before
