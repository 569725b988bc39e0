"""One hub per server process: the open streams, and the routing of bus events to them.

The hub receives event batches from the bus in its event loop, drops duplicates (every event
normally arrives twice: from the commit hook and again from the outbox consumer), decides with
:mod:`fixflow.live.visibility` which streams may see each ticket and pushes the event into those
streams' bounded queues. Decisions are cached per (ticket, predicate) for a short time; any event
that may change who sees a ticket (stage, executors, approver, deletion, edits…) drops the ticket's
cached decisions first, so it is checked against the committed state. Streams re-check their session
periodically: a revoked session, a ban or a role change takes effect without a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection

from fixflow.accounts.actor import Actor
from fixflow.accounts.service import resolve_session
from fixflow.core.db import Database
from fixflow.core.errors import Unauthenticated
from fixflow.live.bus import RESYNC, Bus, LiveEvent, Unsubscribe
from fixflow.live.streams import Stream
from fixflow.live.visibility import PredicateGroups, Query, VisibilityCache, run_plan, visibility_sql

log = logging.getLogger("fixflow.live")

#: Kinds that never change who may see the ticket: their cached decisions stay valid.
CONTENT_ONLY_KINDS = frozenset(
    {
        "ticket.work_added",
        "ticket.work_submitted",
        "ticket.rated",
        "ticket.deadline_changed",
        "ticket.attachment_added",
        "ticket.approval_requested",
        "ticket.message_posted",
        "message.posted",
    }
)


class Hub:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        *,
        queue_size: int = 64,
        cache_ttl: float = 30.0,
        cache_tickets: int = 2_000,
        revalidate_seconds: float = 60.0,
        dedupe_size: int = 50_000,
    ) -> None:
        self.db = db
        self.bus = bus
        self.queue_size = queue_size
        self.revalidate_seconds = revalidate_seconds
        self.cache = VisibilityCache(cache_ttl, cache_tickets)
        self.predicates = PredicateGroups(db.engine.dialect)
        self.delivered = 0
        self._by_tenant: dict[int, dict[Stream, None]] = {}
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._dedupe_size = dedupe_size
        self._incoming: asyncio.Queue[Sequence[LiveEvent]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Unsubscribe | None = None
        # Own threads, so live checks never wait behind request handlers in the shared thread pool.
        self._check_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fixflow-live-check")
        self._connection: Connection | None = None  # used by the check thread only
        self._auth_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fixflow-live-auth")

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._incoming = asyncio.Queue()
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="fixflow-live-dispatch"),
            asyncio.create_task(self._revalidate_loop(), name="fixflow-live-revalidate"),
        ]
        self._unsubscribe = await self.bus.subscribe(self.submit)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            await self._unsubscribe()
            self._unsubscribe = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for streams in self._by_tenant.values():
            for stream in streams:
                stream.close()
        self._by_tenant.clear()
        self._check_pool.submit(self._drop_connection)
        self._check_pool.shutdown(wait=True, cancel_futures=True)
        self._auth_pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, events: Sequence[LiveEvent]) -> None:
        """The bus's sink; runs in the hub's event loop."""
        if self._incoming is not None and events:
            self._incoming.put_nowait(events)

    # -- streams --------------------------------------------------------------------------------
    async def open_stream(self, token: str) -> Stream:
        """A stream for the session behind ``token``; :class:`Unauthenticated` when there is none."""
        loop = asyncio.get_running_loop()
        actor = await loop.run_in_executor(self._auth_pool, self._resolve, token)
        if actor is None:
            raise Unauthenticated("Please log in")
        stream = Stream(
            actor,
            token,
            visibility_sql(actor, self.db.engine.dialect),
            queue_size=self.queue_size,
            revalidate_at=self._next_revalidation(),
        )
        self._by_tenant.setdefault(actor.tenant_id, {})[stream] = None
        self.predicates.acquire(stream.expression)
        return stream

    def close_stream(self, stream: Stream) -> None:
        """Idempotent: the generator's ``finally``, the response's background task and the session
        re-check may all close one stream."""
        stream.close()
        streams = self._by_tenant.get(stream.actor.tenant_id)
        if streams is None or stream not in streams:
            return
        del streams[stream]
        if not streams:
            del self._by_tenant[stream.actor.tenant_id]
        self.predicates.release(stream.expression)

    @property
    def stream_count(self) -> int:
        return sum(len(s) for s in self._by_tenant.values())

    def _resolve(self, token: str) -> Actor | None:
        try:
            with self.db.session() as session:
                return resolve_session(session, token).actor
        except Unauthenticated:
            return None

    def _next_revalidation(self) -> float:
        return time.monotonic() + self.revalidate_seconds * random.uniform(0.75, 1.25)

    # -- routing --------------------------------------------------------------------------------
    async def _dispatch_loop(self) -> None:
        assert self._incoming is not None
        while True:
            batch = list(await self._incoming.get())
            while not self._incoming.empty():  # whatever queued meanwhile goes into the same check
                batch.extend(self._incoming.get_nowait())
            try:
                await self.dispatch(batch)
            except Exception:
                log.exception("live hub: dispatching %d events failed", len(batch))

    def _fresh(self, events: Iterable[LiveEvent]) -> list[LiveEvent]:
        fresh = []
        for event in events:
            if event.is_resync:
                fresh.append(event)
                continue
            if event.event_id in self._seen:
                continue
            self._seen[event.event_id] = None
            if len(self._seen) > self._dedupe_size:
                self._seen.popitem(last=False)
            fresh.append(event)
        return fresh

    async def dispatch(self, batch: Sequence[LiveEvent]) -> None:
        events = self._fresh(batch)
        if any(e.is_resync for e in events):
            for streams in self._by_tenant.values():
                for stream in streams:
                    stream.push(RESYNC)
        relevant = [e for e in events if not e.is_resync and e.tenant_id in self._by_tenant]
        if not relevant:
            return
        # Who could see the ticket just before a change that may hide it (an executor taken off it)
        # still gets that one event, so their open screen learns the ticket is gone.
        before: dict[int, set[str]] = {}
        now = time.monotonic()
        for event in relevant:
            if event.kind not in CONTENT_ONLY_KINDS:
                entry = self.cache.known(event.ticket_id, now)
                if entry is not None:
                    before.setdefault(event.ticket_id, set()).update(entry.visible)
                self.cache.invalidate(event.ticket_id)
        targets = {t: list(self._by_tenant[t]) for t in {e.tenant_id for e in relevant}}
        try:
            visible = await self._visibility(relevant, targets)
        except Exception:
            # Which stream may see what is unknown: tell them all to refresh (that leaks nothing:
            # a resync names no ticket), rather than silently dropping the change.
            log.exception("live hub: visibility check failed; resyncing %d tenants", len(targets))
            for group in targets.values():
                for stream in group:
                    stream.push(RESYNC)
            return
        for event in relevant:
            admitted = visible.get(event.ticket_id, set()) | before.get(event.ticket_id, set())
            for stream in targets[event.tenant_id]:
                if not stream.closed and stream.expression in admitted:
                    if event.staff_only and not stream.actor.is_staff:
                        continue
                    stream.push(event)
                    self.delivered += 1

    async def _visibility(
        self, events: Sequence[LiveEvent], targets: dict[int, list[Stream]]
    ) -> dict[int, set[str]]:
        """Admitting predicates per ticket id: cached where fresh, else one statement for the rest."""
        now = time.monotonic()
        result: dict[int, set[str]] = {}
        missing: set[str] = set()
        to_check: set[int] = set()
        for event in events:
            wanted = {s.expression for s in targets[event.tenant_id]}
            entry = self.cache.known(event.ticket_id, now)
            unknown = wanted - entry.checked if entry else wanted
            result[event.ticket_id] = set(entry.visible) if entry else set()
            if unknown:
                missing |= unknown
                to_check.add(event.ticket_id)
        if to_check:
            plan = self.predicates.plan(self.predicates.groups_of(missing), to_check)
            loop = asyncio.get_running_loop()
            pairs = await loop.run_in_executor(self._check_pool, self._check, plan)
            checked = {e for query in plan for e in query.slots if e}
            found: dict[int, set[str]] = {}
            for expression, ticket_id in pairs:
                found.setdefault(ticket_id, set()).add(expression)
            now = time.monotonic()
            for ticket_id in to_check:
                admitted = found.get(ticket_id, set())
                self.cache.store(ticket_id, checked, admitted, now)
                result.setdefault(ticket_id, set()).update(admitted)
        return result

    def _check(self, plan: Sequence[Query]) -> set[tuple[str, int]]:
        """Runs in the single check thread, on a connection of its own: the group statements stay
        parsed (SQLite) or prepared (PostgreSQL) on it from one event to the next."""
        try:
            if self._connection is None:
                self._connection = self.db.engine.connect()
                raw: Any = self._connection.connection.dbapi_connection
                if hasattr(raw, "prepare_threshold"):
                    raw.prepare_threshold = 0  # psycopg: prepare the group statements at once
            try:
                return run_plan(self._connection, plan)
            finally:
                # End the read transaction: never keep a snapshot (or SQLite's read lock) open.
                # COMMIT, not ROLLBACK: psycopg forgets its prepared statements on ROLLBACK.
                self._connection.commit()
        except Exception:
            self._drop_connection()
            raise

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.invalidate()

    # -- session re-checks ----------------------------------------------------------------------
    async def _revalidate_loop(self) -> None:
        while True:
            # Every second a few: 1,000 streams re-checked each minute is ~17 sessions a second, and
            # small batches never stall event delivery the way one big burst would.
            await asyncio.sleep(1.0)
            try:
                await self.revalidate_due()
            except Exception:
                log.exception("live hub: session re-check failed")

    async def revalidate_due(self, *, force: bool = False) -> None:
        now = time.monotonic()
        streams = [s for group in self._by_tenant.values() for s in group]
        due = [s for s in streams if force or s.revalidate_at <= now][: None if force else 100]
        if not due:
            return
        loop = asyncio.get_running_loop()
        actors = await loop.run_in_executor(self._auth_pool, self._resolve_many, [s.token for s in due])
        for stream, actor in zip(due, actors, strict=True):
            stream.revalidate_at = self._next_revalidation()
            if stream.closed:  # ended while we were checking; already released
                continue
            if actor is None:
                self.close_stream(stream)
            elif actor != stream.actor:
                expression = visibility_sql(actor, self.db.engine.dialect)
                self.predicates.acquire(expression)
                self.predicates.release(stream.expression)
                stream.actor, stream.expression = actor, expression

    def _resolve_many(self, tokens: Sequence[str]) -> list[Actor | None]:
        actors: list[Actor | None] = []
        with self.db.session() as session:  # one unit of work for the batch
            for token in tokens:
                try:
                    actors.append(resolve_session(session, token).actor)
                except Unauthenticated:
                    actors.append(None)
        return actors
