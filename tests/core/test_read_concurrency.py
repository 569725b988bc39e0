"""On PostgreSQL a server process runs at most ``database_read_concurrency`` hot reads at once on its
event-loop connections; the others wait their turn in arrival order instead of queueing on the
database's cores."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from builders import World, login
from fixflow.accounts.service import Authenticated
from fixflow.core.db import Database
from fixflow.core.http import run_authenticated


def _reads_of_own(
    client: TestClient, world: World, database: Database, **options: Any
) -> tuple[str, Database, Any]:
    """A customer's token, a Database of its own with ``options`` and a request reaching it (PostgreSQL)."""
    if database.dialect != "postgresql":
        pytest.skip("the event-loop read connections are PostgreSQL's")
    token = login(client, world.customer_a)["Authorization"].removeprefix("Bearer ")
    own = Database(database.url, **options)
    return token, own, SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(db=own)))


def test_reads_in_flight_are_capped_and_served_in_arrival_order(
    client: TestClient, world: World, database: Database
) -> None:
    token, capped, request = _reads_of_own(client, world, database, read_concurrency=2)
    events: list[str] = []

    def reading(name: str, seconds: float) -> Any:
        def work(session: Session, auth: Authenticated) -> None:
            assert auth.actor.member_id == world.customer_a.id
            events.append(f"{name} in")
            session.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
            events.append(f"{name} out")

        return run_authenticated(request, token, work)

    async def scenario() -> int:
        await capped.open_async_reads()
        try:
            first = [asyncio.create_task(reading(n, 0.3)) for n in ("a", "b")]
            await asyncio.sleep(0.1)  # a and b are in; c, d and e arrive in this order
            later = [asyncio.create_task(reading(n, 0.05)) for n in ("c", "d", "e")]
            await asyncio.gather(*first, *later)
            engine = capped.async_reads()
            assert engine is not None
            pool: Any = engine.pool
            return int(pool.checkedin()) + int(pool.checkedout())  # held between reads: checked out
        finally:
            await capped.close_async_reads()
            capped.dispose()

    connections = asyncio.run(scenario())
    assert set(events[:2]) == {"a in", "b in"}, events  # in either order: they connect at once
    assert events.index("c in") > min(events.index("a out"), events.index("b out")), events
    entered = [e.split()[0] for e in events if e.endswith(" in")]
    assert entered[2:] == ["c", "d", "e"], events
    assert connections == 2  # never more connections than reads in flight


def test_reads_keep_their_connection_between_turns_but_never_a_broken_one(
    client: TestClient, world: World, database: Database
) -> None:
    token, held, request = _reads_of_own(client, world, database, read_concurrency=1)

    def backend(session: Session, auth: Authenticated) -> int:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())

    def breaks(session: Session, auth: Authenticated) -> None:
        session.connection().invalidate()  # as a dropped connection leaves it
        raise RuntimeError("the read failed")

    def fails(session: Session, auth: Authenticated) -> None:
        session.execute(text("SELECT 1 / 0"))

    async def scenario() -> list[int]:
        await held.open_async_reads()
        try:
            first = await run_authenticated(request, token, backend)
            engine = held.async_reads()
            assert engine is not None
            pool: Any = engine.pool
            assert pool.checkedout() == 1  # kept between reads, not returned to the pool
            again = await run_authenticated(request, token, backend)
            with pytest.raises(RuntimeError):
                await run_authenticated(request, token, breaks)
            replaced = await run_authenticated(request, token, backend)
            with pytest.raises(DBAPIError):
                await run_authenticated(request, token, fails)
            after_error = await run_authenticated(request, token, backend)
            return [first, again, replaced, after_error]
        finally:
            await held.close_async_reads()
            held.dispose()

    first, again, replaced, after_error = asyncio.run(scenario())
    assert again == first  # the same connection, not one from the pool each time
    assert replaced != first  # a broken connection is not handed out again
    assert after_error == replaced  # a failed statement leaves the connection usable
    assert not held._held_reads  # closing the reads closes what they held


def test_with_pre_ping_reads_check_their_connection_out_each_time(
    client: TestClient, world: World, database: Database
) -> None:
    # FIXFLOW_DATABASE_PRE_PING asks for every connection to be tested before use: nothing is held.
    token, pinged, request = _reads_of_own(client, world, database, read_concurrency=1, pool_pre_ping=True)

    def read(session: Session, auth: Authenticated) -> int:
        return int(session.execute(text("SELECT 1")).scalar_one())

    async def scenario() -> int:
        await pinged.open_async_reads()
        try:
            assert await run_authenticated(request, token, read) == 1
            engine = pinged.async_reads()
            assert engine is not None
            pool: Any = engine.pool
            return int(pool.checkedout())
        finally:
            await pinged.close_async_reads()
            pinged.dispose()

    assert asyncio.run(scenario()) == 0
