"""Materialising planned tickets: every occurrence whose creation moment (occurrence − lead time) has
come becomes one ticket per object (spec/planning-and-fields.md §1).

One call of `generate_batch` is one bounded unit of work for one transaction:
1. claim up to ``limit`` due plan objects (``due_at <= now``; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
   two workers take different rows; SQLite serialises writers anyway);
2. walk each object's occurrences lazily from its ``pending_from`` while they are due, at most ``limit``
   occurrences in all, and write each object's moved ``pending_from`` and next ``due_at``;
3. insert the `PlanOccurrence` rows with ON CONFLICT DO NOTHING: only the rows this transaction inserted
   get a ticket, so a rerun over a stale schedule or a racing worker never duplicates one;
4. insert the tickets, their history, executors and outbox events in bulk, with the same rules as
   `fixflow.tickets.service.create_ticket` (start stage and status, default criticality, effective
   address, SLA deadline, numbering, additional-field defaults; see `fixflow.planning.context`).
The caller commits. A crash anywhere rolls the whole batch back, schedules included, so the next run
redoes it: nothing is skipped, nothing doubled. Memory is bounded by the batch, never by history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from fixflow.core.db import Database, utcnow
from fixflow.jobs.models import OutboxEvent
from fixflow.planning.context import BatchContext, Link, PlanSetup
from fixflow.planning.models import OccurrenceStatus, PlanObject, PlanOccurrence
from fixflow.planning.recurrence import occurrences
from fixflow.tickets.history import HistoryKind
from fixflow.tickets.models import Ticket, TicketExecutor, TicketHistory

BATCH_SIZE = 1000
_EPSILON = dt.timedelta(microseconds=1)
_KEY = ("tenant_id", "plan_id", "object_id", "occurrence_at")  # the unique key of PlanOccurrence


@dataclass
class BatchResult:
    generated: int = 0
    skipped: int = 0
    claimed: int = 0
    more: bool = False


@dataclass
class GenerationStats:
    generated: int = 0
    skipped: int = 0
    batches: int = 0

    def add(self, result: BatchResult) -> None:
        self.generated += result.generated
        self.skipped += result.skipped
        self.batches += 1


@dataclass(frozen=True)
class _Due:
    link: Link
    at: dt.datetime
    reason: str | None


@dataclass(frozen=True)
class _Made:
    """An occurrence row this transaction inserted, and the id its ticket gets."""

    due: _Due
    ticket_id: int


@dataclass
class _Walk:
    """The due occurrences of one plan object and where its schedule stands afterwards."""

    due: list[dt.datetime] = field(default_factory=list)
    next_due: dt.datetime | None = None
    exhausted_capacity: bool = False


def _walk(setup: PlanSetup, tz: str, pending_from: dt.datetime, now: dt.datetime, capacity: int) -> _Walk:
    plan, walk = setup.plan, _Walk()
    lead = dt.timedelta(minutes=plan.lead_minutes)
    series: Iterator[dt.datetime] = occurrences(plan.rrule, plan.first_local_dt, tz, start_utc=pending_from)
    for at in series:
        if at - lead > now or len(walk.due) >= capacity:
            walk.next_due = at - lead
            walk.exhausted_capacity = at - lead <= now
            return walk
        walk.due.append(at)
    return walk


def _claim(
    session: Session, now: dt.datetime, limit: int, tenant_id: int | None, plan_id: int | None
) -> list[Link]:
    t = _table(PlanObject)
    stmt = select(t.c.tenant_id, t.c.plan_id, t.c.object_id, t.c.pending_from, t.c.due_at).where(
        t.c.due_at <= now
    )
    if tenant_id is not None:
        stmt = stmt.where(t.c.tenant_id == tenant_id)
    if plan_id is not None:
        stmt = stmt.where(t.c.plan_id == plan_id)
    stmt = stmt.order_by(t.c.due_at).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return [Link(*row) for row in session.execute(stmt)]


def _save_links(
    session: Session, links: list[Link], before: list[tuple[dt.datetime, dt.datetime | None]]
) -> None:
    """Write the moved schedules (Core executemany: no ORM bookkeeping for a thousand rows)."""
    t = _table(PlanObject)
    changed = [
        {"p": x.plan_id, "o": x.object_id, "pending_from": x.pending_from, "due_at": x.due_at}
        for x, old in zip(links, before, strict=True)
        if (x.pending_from, x.due_at) != old
    ]
    if changed:
        stmt = update(t).where(t.c.plan_id == bindparam("p"), t.c.object_id == bindparam("o"))
        session.execute(stmt, changed)


def generate_batch(
    session: Session,
    *,
    now: dt.datetime | None = None,
    limit: int = BATCH_SIZE,
    tenant_id: int | None = None,
    plan_id: int | None = None,
) -> BatchResult:
    """One bounded batch in the caller's transaction; ``more`` says another batch has work."""
    now = now or utcnow()
    links = _claim(session, now, limit, tenant_id, plan_id)
    if not links:
        return BatchResult()
    ctx = BatchContext.load(session, links)
    before = [(x.pending_from, x.due_at) for x in links]
    todo, more = _collect(ctx, links, now, limit)
    # The schedule moves first: on SQLite this write takes the lock that makes max(id) below safe.
    _save_links(session, links, before)
    made, skipped = _insert_occurrences(session, todo, now)
    _insert_tickets(session, ctx, made, now)
    return BatchResult(
        generated=len(made), skipped=skipped, claimed=len(links), more=more or len(links) >= limit
    )


def _collect(ctx: BatchContext, links: list[Link], now: dt.datetime, limit: int) -> tuple[list[_Due], bool]:
    """The due occurrences of the claimed objects (at most ``limit``), advancing each object's schedule."""
    todo: list[_Due] = []
    more = False
    walks: dict[tuple[int, str, dt.datetime], _Walk] = {}
    for link in links:
        setup = ctx.setups[link.plan_id]
        if not setup.plan.is_active:
            link.due_at = None  # self-healing: a paused or deleted plan has nothing due
            continue
        capacity = limit - len(todo)
        if capacity <= 0:
            return todo, True
        tz = ctx.zones[link.object_id]
        # Objects of one plan in one zone share their occurrences: walk the series once for them.
        key = (link.plan_id, tz, link.pending_from)
        walk = walks.get(key)
        if walk is None or walk.exhausted_capacity or len(walk.due) > capacity:
            walk = walks[key] = _walk(setup, tz, link.pending_from, now, capacity)
        reason = ctx.skip_reason(setup, link.object_id)
        todo.extend(_Due(link, at, reason) for at in walk.due)
        if walk.due:
            link.pending_from = walk.due[-1] + _EPSILON
        link.due_at = walk.next_due
        more = more or walk.exhausted_capacity
    return todo, more


def _table(model: Any) -> Table:
    """Core table of a model: bulk inserts skip the ORM's per-row bookkeeping."""
    return cast(Table, model.__table__)


def _new_ids(session: Session, model: Any, n: int) -> list[int]:
    """Ids for ``n`` new rows, so bulk inserts need no RETURNING (which SQLite cannot batch).

    PostgreSQL: from the table's id sequence. SQLite: after max(id) — the caller already holds the write
    lock, so no other writer can take these ids in between.
    """
    if n == 0:
        return []
    table = _table(model)
    if session.get_bind().dialect.name == "postgresql":
        seq = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)")
        return sorted(int(v) for v in session.scalars(seq, {"table": table.name, "n": n}))
    last = session.scalar(select(func.max(table.c.id))) or 0
    return list(range(last + 1, last + 1 + n))


def _insert_occurrences(session: Session, todo: list[_Due], now: dt.datetime) -> tuple[list[_Made], int]:
    """Insert the occurrence rows first, ON CONFLICT DO NOTHING.

    Rows already present (a rerun over a stale schedule, a racing worker) are left alone; only the rows
    this transaction inserted are returned to become tickets. A generated row carries its ticket's id
    from the start (the foreign key is checked at commit), so no UPDATE follows.
    """
    if not todo:
        return [], 0
    occurrence_ids = _new_ids(session, PlanOccurrence, len(todo))
    fresh_ticket_ids = iter(_new_ids(session, Ticket, sum(1 for d in todo if d.reason is None)))
    ticket_ids = [next(fresh_ticket_ids) if d.reason is None else None for d in todo]
    rows = [
        {
            "id": occurrence_id,
            "tenant_id": d.link.tenant_id,
            "plan_id": d.link.plan_id,
            "object_id": d.link.object_id,
            "occurrence_at": d.at,
            "ticket_id": ticket_id,
            "status": (OccurrenceStatus.GENERATED if ticket_id else OccurrenceStatus.SKIPPED).value,
            "reason": d.reason,
            "created_at": now,
        }
        for d, occurrence_id, ticket_id in zip(todo, occurrence_ids, ticket_ids, strict=True)
    ]
    table = _table(PlanOccurrence)
    dml = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(dml(table).on_conflict_do_nothing(index_elements=list(_KEY)), rows)
    landed = set(session.scalars(select(table.c.id).where(table.c.id.in_(occurrence_ids))))
    made = [
        _Made(d, ticket_id)
        for d, occurrence_id, ticket_id in zip(todo, occurrence_ids, ticket_ids, strict=True)
        if occurrence_id in landed and ticket_id is not None
    ]
    return made, len(landed) - len(made)


def _insert_tickets(session: Session, ctx: BatchContext, made: list[_Made], now: dt.datetime) -> None:
    if not made:
        return
    numbers = ctx.allocate_numbers(session, [m.due.link for m in made], now)
    rows = [
        {"id": m.ticket_id, **ctx.ticket_row(session, m.due.link, m.due.at, number, now)}
        for m, number in zip(made, numbers, strict=True)
    ]
    session.execute(insert(_table(Ticket)), rows)
    history: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    executors: list[dict[str, Any]] = []
    for m, row in zip(made, rows, strict=True):
        setup = ctx.setups[m.due.link.plan_id]
        author, tenant_id, ticket_id = setup.plan.author_id, m.due.link.tenant_id, m.ticket_id
        base = {
            "tenant_id": tenant_id,
            "ticket_id": ticket_id,
            "at": now,
            "actor_id": author,
            "comment": None,
        }
        history.append(
            {
                **base,
                "kind": HistoryKind.CREATED,
                "field": None,
                "old": None,
                "new": {"number": row["number"]},
            }
        )
        events.append(_event(tenant_id, "ticket.created", ticket_id, author, {"plan_id": setup.plan.id}, now))
        for member_id in setup.executor_ids:
            executors.append({"tenant_id": tenant_id, "ticket_id": ticket_id, "member_id": member_id})
            history.append(
                {
                    **base,
                    "kind": HistoryKind.EXECUTOR_ADDED,
                    "field": "executor",
                    "old": None,
                    "new": member_id,
                }
            )
            events.append(
                _event(
                    tenant_id, "ticket.executor_assigned", ticket_id, author, {"member_id": member_id}, now
                )
            )
    session.execute(insert(_table(TicketHistory)), history)
    if executors:
        session.execute(insert(_table(TicketExecutor)), executors)
    session.execute(insert(_table(OutboxEvent)), events)


def _event(
    tenant_id: int, kind: str, ticket_id: int, actor_id: int, payload: dict[str, Any], now: dt.datetime
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "kind": kind,
        "ticket_id": ticket_id,
        "actor_id": actor_id,
        "payload": payload,
        "created_at": now,
        "dispatched_at": None,
    }


def generate_due(
    db: Database,
    *,
    now: dt.datetime | None = None,
    batch_size: int = BATCH_SIZE,
    tenant_id: int | None = None,
    plan_id: int | None = None,
    max_batches: int | None = None,
) -> GenerationStats:
    """Run batches, each in its own transaction, until nothing is due (CLI, benchmark, tests)."""
    stats = GenerationStats()
    while max_batches is None or stats.batches < max_batches:
        with db.session(write=True) as session:
            result = generate_batch(session, now=now, limit=batch_size, tenant_id=tenant_id, plan_id=plan_id)
        stats.add(result)
        if not result.more:
            break
    return stats
