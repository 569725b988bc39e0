"""The list endpoint builds card JSON by hand; it must stay exactly what the documented schema says."""

from __future__ import annotations

import datetime as dt

import orjson
from sqlalchemy import update
from sqlalchemy.orm import Session

from builders import World, make_ticket
from fixflow.core.http import JSONResponse
from fixflow.tickets import schemas
from fixflow.tickets.api import card_json
from fixflow.tickets.listing import TicketFilters, list_tickets
from fixflow.tickets.models import Ticket
from fixflow.tickets.queries import TicketView


def test_card_json_matches_the_schema(session: Session, sworld: World) -> None:
    plain = make_ticket(session, sworld, by="customer_a")
    dated = make_ticket(session, sworld, by="customer_a")
    session.execute(
        update(Ticket)
        .where(Ticket.id == dated.id)
        .values(deadline=dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC))
    )
    session.flush()
    for who in ("customer_a", "dispatcher"):
        actor = sworld.people[who].actor
        cards = list_tickets(session, actor, TicketView.ALL, TicketFilters()).items
        assert {c.id for c in cards} >= {plain.id, dated.id}
        for card in cards:
            exclude = None if actor.is_staff else {"stage"}
            expected = schemas.TicketCardOut.model_validate(card).model_dump(mode="json", exclude=exclude)
            rendered = orjson.loads(JSONResponse(card_json(card, staff=actor.is_staff)).body)
            assert rendered == expected
            assert ("stage" in rendered) is actor.is_staff
