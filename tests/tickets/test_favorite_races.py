"""A favourite added while its ticket is being deleted still gets the deleted mark (PostgreSQL).

Favourites carry their ticket's deleted mark (``favorites.ticket_deleted``, read by the counters from
the index alone). Two transactions racing — one deleting the ticket, one adding it to someone's
favourites — must not leave a favourite of a deleted ticket unmarked, whichever takes its lock first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from builders import World, make_ticket
from fixflow.core.db import Database
from fixflow.tickets.models import Favorite, Ticket
from fixflow.tickets.service import add_favorite, delete_ticket

WAIT = 0.5  # long enough for the other transaction to reach its lock and wait there


def _in_thread(work: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def _setup(database: Database, world: World) -> int:
    if database.dialect != "postgresql":
        pytest.skip("SQLite runs one writer at a time: no race to lose")
    with database.session(write=True) as s:
        return make_ticket(s, world).id


def _delete(database: Database, world: World, ticket_id: int) -> None:
    with database.session(write=True) as s:
        delete_ticket(s, world.owner.actor, s.get_one(Ticket, ticket_id))


def _add(database: Database, world: World, ticket_id: int) -> None:
    with database.session(write=True) as s:
        add_favorite(s, world.customer_a.actor, s.get_one(Ticket, ticket_id))


def _mark(database: Database, world: World, ticket_id: int) -> bool | None:
    with database.session() as s:
        found = select(Favorite.ticket_deleted).where(
            Favorite.ticket_id == ticket_id, Favorite.member_id == world.customer_a.id
        )
        return s.scalar(found)


def _race(database: Database, first: Callable[[Session], None], second: Callable[[], None]) -> None:
    """``first`` in a transaction left open while ``second`` runs in a thread, which must wait for it."""
    session: Session = database.session_factory()
    try:
        first(session)
        thread, errors = _in_thread(second)
        time.sleep(WAIT)
        assert thread.is_alive(), "the second transaction must wait for the first one's lock"
        session.commit()
    finally:
        session.close()
    thread.join(10)
    assert not errors, errors


def test_a_favourite_added_first_is_marked_by_the_deletion_that_waited(
    database: Database, world: World
) -> None:
    ticket_id = _setup(database, world)
    _race(
        database,
        lambda s: add_favorite(s, world.customer_a.actor, s.get_one(Ticket, ticket_id)),
        lambda: _delete(database, world, ticket_id),
    )
    assert _mark(database, world, ticket_id) is True


def test_a_favourite_added_during_a_deletion_waits_and_is_marked(database: Database, world: World) -> None:
    ticket_id = _setup(database, world)
    _race(
        database,
        lambda s: delete_ticket(s, world.owner.actor, s.get_one(Ticket, ticket_id)),
        lambda: _add(database, world, ticket_id),
    )
    assert _mark(database, world, ticket_id) is True
