"""On PostgreSQL a ticket number is taken in its own short transaction, so one slow creation does not
hold every other creation of the tenant behind the counter's row lock."""

from __future__ import annotations

import threading

import pytest

from builders import make_world
from fixflow.catalogs.numbering import next_counter
from fixflow.core.db import Database


def test_an_open_transaction_does_not_block_the_next_number(database: Database) -> None:
    if database.dialect != "postgresql":
        pytest.skip("SQLite serialises writers by design")
    with database.session(write=True) as s:
        world = make_world(s)
    slow = database.session_factory()
    try:
        first = next_counter(slow, world.tenant_id, world.type_id)  # the request is still open
        taken: list[int] = []

        def other_request() -> None:
            with database.session(write=True) as s:
                taken.append(next_counter(s, world.tenant_id, world.type_id))

        worker = threading.Thread(target=other_request)
        worker.start()
        worker.join(timeout=10)
        assert not worker.is_alive(), "the second creation waited for the first one's transaction"
        assert taken == [first + 1]
    finally:
        slow.rollback()  # a failed request leaves a gap, never a duplicate
        slow.close()
    with database.session(write=True) as s:
        assert next_counter(s, world.tenant_id, world.type_id) == first + 2
