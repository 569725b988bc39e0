"""Why an operation is slow: the plans of the list queries and the SQL each request issues.

The statements are captured from SQLAlchemy while the real read models (``fixflow.tickets.listing``)
build them for the bench actors, then explained with the same parameters — EXPLAIN (ANALYZE, BUFFERS)
on PostgreSQL, EXPLAIN QUERY PLAN on SQLite. The profile replays each scenario's first request in
process and reports statements per request and the share of time spent in the database.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor, load_actor
from fixflow.accounts.models import Member
from fixflow.core.db import Database
from fixflow.core.plans import generic_plan
from fixflow.tickets.listing import TicketFilters, count_views, list_tickets
from fixflow.tickets.queries import TicketView
from loadgen import Req
from scenarios import Person

# Plan fragments that mean "cost grows with the table, not the page".
WARNINGS = [
    (re.compile(r"Seq Scan on tickets"), "sequential scan of tickets"),
    (
        re.compile(r"Seq Scan on ticket_executors|Seq Scan on favorites"),
        "sequential scan of a ticket side table",
    ),
    (re.compile(r"SCAN tickets(?! USING)"), "full scan of tickets"),
    (re.compile(r"USE TEMP B-TREE FOR ORDER BY"), "sort in a temporary b-tree (order not from an index)"),
    (re.compile(r"Sort Method: (?:top-N heapsort|external)"), "sort of many rows for one page"),
    (re.compile(r"Rows Removed by Filter: (\d{4,})"), "many rows read and thrown away"),
    (re.compile(r"Heap Fetches: (\d{4,})"), "many heap fetches in an index-only scan"),
]


@dataclass
class Captured:
    statements: list[tuple[str, Any]] = field(default_factory=list)
    sql_seconds: float = 0.0


@contextmanager
def capture(*engines: Engine) -> Iterator[Captured]:
    got = Captured()
    started: list[float] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        started.append(time.perf_counter())
        if not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT", "ROLLBACK")):
            got.statements.append((statement, parameters))

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if started:
            got.sql_seconds += time.perf_counter() - started.pop()

    for engine in engines:
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
    try:
        yield got
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)


def _actor(session: Session, person: Person) -> Actor:
    member = session.get(Member, person.member_id)
    assert member is not None
    return load_actor(session, member)


def _plan(session: Session, statement: str, parameters: Any) -> str:
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return generic_plan(session.connection(), statement, parameters)
    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return "\n".join(f"{'  ' * _depth(rows, r)}{r[-1]}" for r in rows)


def _run_ms(session: Session, statement: str, parameters: Any) -> float:
    conn, times = session.connection(), []
    for _ in range(5):
        t0 = time.perf_counter()
        conn.exec_driver_sql(statement, parameters).fetchall()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def _depth(rows: Sequence[Any], row: Any) -> int:
    parents = {r[0]: r[1] for r in rows}
    depth, parent = 0, row[1]
    while parent in parents:
        depth, parent = depth + 1, parents[parent]
    return depth


def warnings_of(plan: str) -> list[str]:
    return [label for pattern, label in WARNINGS if pattern.search(plan)]


@dataclass(frozen=True)
class ListCase:
    name: str
    who: str  # customer | admin | dispatcher
    view: TicketView | None  # None: the tab counters
    search: bool = False  # filter by the number of an open ticket the actor sees


def _some_number(session: Session, actor: Actor) -> str | None:
    """An open ticket's number from the middle of the actor's "all" tab (fetched before capturing)."""
    page = list_tickets(session, actor, TicketView.ALL, TicketFilters(), limit=100)
    return page.items[len(page.items) // 2].number if page.items else None


LIST_CASES = [
    ListCase("customer_mine", "customer", TicketView.MINE),
    ListCase("customer_all", "customer", TicketView.ALL),
    ListCase("customer_archive", "customer", TicketView.ARCHIVE),
    ListCase("customer_favorites", "customer", TicketView.FAVORITES),
    ListCase("customer_approval", "customer", TicketView.APPROVAL),
    ListCase("customer_admin_all", "admin", TicketView.ALL),
    ListCase("customer_admin_archive", "admin", TicketView.ARCHIVE),
    ListCase("dispatcher_all", "dispatcher", TicketView.ALL),
    ListCase("dispatcher_archive", "dispatcher", TicketView.ARCHIVE),
    ListCase("search_number_customer", "customer", TicketView.ALL, search=True),
    ListCase("search_number_dispatcher", "dispatcher", TicketView.ALL, search=True),
    ListCase("counters_customer", "customer", None),
    ListCase("counters_admin", "admin", None),
    ListCase("counters_dispatcher", "dispatcher", None),
]


def print_plans(engine: Engine, session_factory: Callable[[], Session], people: dict[str, Person]) -> None:
    for case in LIST_CASES:
        with session_factory() as session:
            actor = _actor(session, people[case.who])
            filters = TicketFilters(q=_some_number(session, actor)) if case.search else TicketFilters()
            with capture(engine) as got:
                if case.view is None:
                    count_views(session, actor)
                else:
                    list_tickets(session, actor, case.view, filters, limit=25)
            tickets_sql = [(s, p) for s, p in got.statements if re.search(r"\bFROM tickets\b", s)]
            print(
                f"\n=== {case.name} ({people[case.who].login}): {len(got.statements)} statements, "
                f"{len(tickets_sql)} on tickets"
            )
            for statement, parameters in tickets_sql:
                plan = _plan(session, statement, parameters)
                print("--- SQL: " + _short(statement))
                print(f"--- params: {parameters}")
                print(f"--- runs in {_run_ms(session, statement, parameters):.2f} ms (warm, median of 5)")
                print("--- plan:\n" + plan)
                flags = warnings_of(plan)
                if flags:
                    print("!!! " + "; ".join(flags))
            session.rollback()


def _short(statement: str) -> str:
    """The statement on one line, the long ticket column list elided."""
    flat = re.sub(r"\s+", " ", statement).strip()
    return re.sub(
        r"SELECT tickets\.id, tickets\.tenant_id, .*? FROM tickets", "SELECT tickets.* FROM tickets", flat
    )


@dataclass
class Profile:
    name: str
    statements: int
    total_ms: float
    cpu_ms: float  # this process's CPU: the application's own cost, whatever else runs on the machine
    sql_ms: float  # inside cursor.execute: the whole query on PostgreSQL, up to the first row on SQLite
    status: int
    shares: dict[str, float]  # GETs only
    stats: pstats.Stats | None = None  # category -> share of the profiled time


# Where a function lives decides whom its own time is charged to.
CATEGORIES = [
    ("db", ("sqlite3", "psycopg")),
    ("sqlalchemy", ("/sqlalchemy/",)),
    ("pydantic", ("/pydantic",)),
    ("web", ("/fastapi/", "/starlette/", "/anyio/", "/httpx/", "/httpcore/", "/h11/")),
    ("fixflow", ("/fixflow/",)),
]
CATEGORY_NAMES = [name for name, _ in CATEGORIES] + ["other"]


def _shares(stats: pstats.Stats) -> dict[str, float]:
    totals = dict.fromkeys(CATEGORY_NAMES, 0.0)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, func), (_cc, _nc, own, _cum, _callers) in raw.items():
        where = func if filename == "~" else filename
        name = next((n for n, marks in CATEGORIES if any(m in where for m in marks)), "other")
        totals[name] += own
    whole = sum(totals.values()) or 1.0
    return {k: v / whole for k, v in totals.items()}


def profile_requests(
    app: Any, db: Database, first_requests: dict[str, Req], repeat: int = 30
) -> list[Profile]:
    """Each scenario's first request in process, in this thread (so cProfile sees the endpoint too),
    with the async read engine a server process opens (the hottest reads run on the event loop)."""
    return asyncio.run(_profile(app, db, first_requests, repeat))


async def _profile(app: Any, db: Database, first_requests: dict[str, Req], repeat: int) -> list[Profile]:
    import anyio.to_thread
    import httpx

    async def inline(func: Callable[..., Any], *args: Any, **_options: Any) -> Any:
        return func(*args)

    original = anyio.to_thread.run_sync
    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    out = []
    await db.open_async_reads()
    engines = db.engines()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for name, req in first_requests.items():
                runs = repeat if req.method == "GET" else 1
                totals, cpus, sqls, count, status = [], [], [], 0, 0
                for _ in range(runs):  # timed without the profiler
                    with capture(*engines) as got:
                        t0, c0 = time.perf_counter(), time.thread_time()
                        resp = await client.request(req.method, req.path, headers=req.headers, json=req.body)
                        totals.append(time.perf_counter() - t0)
                        cpus.append(time.thread_time() - c0)
                    sqls.append(got.sql_seconds)
                    count, status = len(got.statements), resp.status_code
                profiler = cProfile.Profile(time.thread_time)  # CPU, not waits or preemption
                for _ in range(runs if req.method == "GET" else 0):
                    profiler.enable()
                    await client.request(req.method, req.path, headers=req.headers, json=req.body)
                    profiler.disable()
                stats = pstats.Stats(profiler) if req.method == "GET" else None
                shares = _shares(stats) if stats is not None else {}
                out.append(
                    Profile(
                        name,
                        count,
                        statistics.median(totals) * 1000,
                        statistics.median(cpus) * 1000,
                        statistics.median(sqls) * 1000,
                        status,
                        shares,
                        stats,
                    )
                )
    finally:
        anyio.to_thread.run_sync = original
        await db.close_async_reads()
    return out
