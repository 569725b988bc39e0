"""On PostgreSQL a server process runs at most ``database_read_concurrency`` hot reads at once on its
event-loop connections; the next one waits for a connection instead of queueing on the database."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from fixflow.core.db import Database


def test_reads_in_flight_are_capped_and_the_rest_wait_their_turn(database: Database) -> None:
    if database.dialect != "postgresql":
        pytest.skip("the event-loop read connections are PostgreSQL's")
    capped = Database(database.url, read_concurrency=2)

    async def scenario() -> tuple[int, list[str]]:
        await capped.open_async_reads()
        try:
            engine = capped.async_reads()
            assert engine is not None
            order: list[str] = []

            async def read(name: str, hold: float) -> None:
                async with engine.connect() as conn:
                    order.append(f"{name} in")
                    await conn.execute(text("SELECT pg_sleep(:s)"), {"s": hold})
                    order.append(f"{name} out")

            await asyncio.gather(read("a", 0.3), read("b", 0.3), read("c", 0.0))
            return engine.pool.size(), order  # type: ignore[attr-defined]
        finally:
            await capped.close_async_reads()
            capped.dispose()

    size, order = asyncio.run(scenario())
    assert size == 2
    # the third read got a connection only once one of the first two had given theirs back
    assert order.index("c in") > min(order.index("a out"), order.index("b out"))
