"""The spec's yardstick, measured beside fixflow in the same run (spec/quality.md, Performance).

"A bare endpoint that runs one indexed query for a 25-ticket tab and returns JSON (Starlette + asyncpg
+ orjson) does about 2,600 req/s here; fixflow, with all its rules applied, should reach half of that."
This machine's speed varies by tens of percent between hours (bench/RESULTS.md), so every run measures
the bare endpoint itself, on the same data, clients and load generator, and reports fixflow's lists as a
share of it. Nothing of fixflow runs here: no authentication, no visibility rules, no cursor.

Run as ``uvicorn bench.reference:app --workers 2`` with ``REFERENCE_DSN`` set (bench/run.py does it).
asyncpg is a benchmark-only dependency (``pip install asyncpg``); without it the endpoint uses psycopg's
async connection, which the result says.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# A customer's open tickets, newest first: one index range scan (tenant, initiator, open) of 25 rows.
TAB = (
    "SELECT id, number, status_id, object_id, description, created_at, deadline, version FROM tickets "
    "WHERE tenant_id = {tenant} AND initiator_id = {member} AND closed_at IS NULL AND deleted_at IS NULL "
    "ORDER BY id DESC LIMIT 25"
)
POOL_SIZE = 8

try:
    import asyncpg

    DRIVER = "asyncpg"
except ImportError:  # pragma: no cover - depends on the machine
    asyncpg = None
    DRIVER = "psycopg-async"


class _Pool:
    async def open(self, dsn: str) -> None:
        if asyncpg is not None:
            self.pg = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
            return
        import psycopg

        self.free: asyncio.Queue[Any] = asyncio.Queue()
        for _ in range(POOL_SIZE):
            conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, prepare_threshold=0)
            self.free.put_nowait(conn)

    async def rows(self, tenant: int, member: int) -> list[dict[str, Any]]:
        if asyncpg is not None:
            sql = TAB.format(tenant="$1", member="$2")
            return [dict(r) for r in await self.pg.fetch(sql, tenant, member)]
        conn = await self.free.get()
        try:
            cursor = conn.cursor()
            await cursor.execute(TAB.format(tenant="%s", member="%s"), (tenant, member))
            names = [d.name for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in await cursor.fetchall()]
        finally:
            self.free.put_nowait(conn)


pool = _Pool()


async def tab(request: Request) -> Response:
    rows = await pool.rows(int(request.query_params["tenant"]), int(request.query_params["member"]))
    return Response(orjson.dumps({"items": rows, "next_cursor": None}), media_type="application/json")


@contextlib.asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    await pool.open(os.environ["REFERENCE_DSN"])
    yield


app = Starlette(routes=[Route("/tab", tab)], lifespan=lifespan)
