"""A page's objects are freed when it is answered, not left to the cycle collector.

The page's ``Web`` holds the request, and the request's scope held the ``Web``: every page's request,
session and everything they reached became cyclic garbage, and under load full collections ran every
≈ 1.5 s for 10–20 ms each (bench/RESULTS.md).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from functools import partial

from fastapi.testclient import TestClient
from jinja2.runtime import Context
from sqlalchemy.orm import Session
from webtools import web_login

from builders import World, make_ticket
from fixflow.core.db import Database
from fixflow.webapp.web import Web


def cyclic_garbage(call: Callable[[], object]) -> list[object]:
    """The objects ``call`` left in reference cycles (found by a collection, not freed by refcount)."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        call()
        gc.collect()
        return [o for o in gc.garbage if isinstance(o, Web | Session)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.collect()


def test_pages_leave_no_cycle_behind(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
    web_login(client, world.customer_a)
    urls = ["/app/tickets", "/app/tickets?tab=archive", f"/app/tickets/{ticket.id}", "/app/profile"]
    for url in urls:  # warm: imports and caches
        client.get(url)
    left = {url: len(cyclic_garbage(partial(client.get, url))) for url in urls}
    assert not any(left.values()), left


def test_pages_leave_no_template_context_behind(client: TestClient, world: World, database: Database) -> None:
    # Macros imported ``with context`` are built anew for every render and hold the render's context
    # in a cycle; the form helpers read only their arguments (the CSRF input is ``csrf_input``).
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
    web_login(client, world.customer_a)
    urls = [f"/app/tickets/{ticket.id}", "/app/profile", f"/app/tickets/{ticket.id}/rate"]
    for url in urls:
        client.get(url)

    def contexts(url: str) -> int:
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            client.get(url)
            gc.collect()
            return sum(isinstance(o, Context) for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.collect()

    left = {url: contexts(url) for url in urls}
    assert not any(left.values()), left
