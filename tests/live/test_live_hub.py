"""The hub: each stream gets exactly the events of tickets its actor may see, checked in batches."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from livetools import IssueToken, token_issuer
from sqlalchemy import select

from builders import World, assign, make_ticket, make_world
from fixflow.accounts.models import AuthSession
from fixflow.accounts.service import revoke_all_sessions
from fixflow.core.db import Database
from fixflow.live.bus import RESYNC, InProcessBus, LiveEvent
from fixflow.live.hub import Hub
from fixflow.live.streams import Stream
from fixflow.tickets.models import Ticket
from fixflow.tickets.service import update_ticket


@pytest.fixture
def issue_token(database: Database) -> IssueToken:
    return token_issuer(database)


_ids = itertools.count(10_000_000)


def ev(ticket: Ticket, kind: str = "ticket.updated", **kw: Any) -> LiveEvent:
    return LiveEvent(tenant_id=ticket.tenant_id, ticket_id=ticket.id, kind=kind, event_id=next(_ids), **kw)


async def received(stream: Stream, timeout: float = 0.3) -> list[LiveEvent]:
    """Everything the stream yields until it stays quiet for ``timeout`` seconds."""
    got: list[LiveEvent] = []
    events = stream.events()
    while True:
        try:
            got.append(await asyncio.wait_for(anext(events), timeout))
        except (TimeoutError, StopAsyncIteration):
            return got


def with_hub(database: Database, scenario: Callable[[Hub, InProcessBus], Awaitable[None]], **kw: Any) -> None:
    async def run() -> None:
        bus = InProcessBus()
        hub = Hub(database, bus, **kw)
        await hub.start()
        try:
            await scenario(hub, bus)
        finally:
            await hub.stop()

    asyncio.run(run())


def tickets_of(database: Database, world: World) -> tuple[Ticket, Ticket]:
    with database.session(write=True) as s:
        return make_ticket(s, world, by="customer_a"), make_ticket(s, world, by="customer_b")


def test_each_stream_gets_only_tickets_its_actor_may_see(
    database: Database, world: World, issue_token: IssueToken
) -> None:
    with database.session(write=True) as s:
        other_tenant = make_world(s)
    ticket_a, ticket_b = tickets_of(database, world)
    tokens = {
        name: issue_token(world.people[name])
        for name in ("customer_a", "customer_a2", "cadmin_a", "customer_b", "dispatcher", "executor")
    }
    tokens["stranger"] = issue_token(other_tenant.cadmin_a)
    tokens["stranger_admin"] = issue_token(other_tenant.owner)

    async def scenario(hub: Hub, bus: InProcessBus) -> None:
        streams = {name: await hub.open_stream(token) for name, token in tokens.items()}
        bus.publish([ev(ticket_a), ev(ticket_b)])
        got = {name: [e.ticket_id for e in await received(s)] for name, s in streams.items()}
        assert got["customer_a"] == [ticket_a.id]
        assert got["cadmin_a"] == [ticket_a.id]
        assert got["customer_b"] == [ticket_b.id]
        assert got["dispatcher"] == [ticket_a.id, ticket_b.id]
        assert got["customer_a2"] == []  # a colleague, but a plain customer: own tickets only
        assert got["executor"] == []  # not assigned
        assert got["stranger"] == [] and got["stranger_admin"] == []  # another tenant: never

    with_hub(database, scenario)


def test_changes_of_who_may_see_take_effect_at_once(
    database: Database, world: World, issue_token: IssueToken
) -> None:
    """Cached decisions are dropped by events that may change visibility, kept by content events."""
    ticket, _ = tickets_of(database, world)
    token = issue_token(world.executor)

    async def scenario(hub: Hub, bus: InProcessBus) -> None:
        stream = await hub.open_stream(token)
        checks = count_checks(hub)
        bus.publish([ev(ticket, "ticket.created")])
        assert await received(stream) == []
        with database.session(write=True) as s:
            fresh = s.get(Ticket, ticket.id)
            assert fresh is not None
            assign(s, world, fresh, "executor")
        bus.publish([ev(ticket, "ticket.executor_assigned")])
        assert [e.kind for e in await received(stream)] == ["ticket.executor_assigned"]
        before = len(checks)
        bus.publish([ev(ticket, "ticket.work_added")])  # content only: the cached decision holds
        assert [e.kind for e in await received(stream)] == ["ticket.work_added"]
        assert len(checks) == before
        with database.session(write=True) as s:
            fresh = s.get(Ticket, ticket.id)
            assert fresh is not None
            update_ticket(
                s, world.dispatcher.actor, fresh, version=fresh.version, changes={"executor_ids": []}
            )
        bus.publish([ev(ticket, "ticket.executor_unassigned")])
        # the executor could see it until now: this last event tells their screen it is gone
        assert [e.kind for e in await received(stream)] == ["ticket.executor_unassigned"]
        bus.publish([ev(ticket, "ticket.work_added")])
        assert await received(stream) == []

    with_hub(database, scenario)


def count_checks(hub: Hub) -> list[int]:
    calls: list[int] = []
    original = hub._check

    def counting(plan: Any) -> Any:
        calls.append(sum(1 for query in plan for expression in query.slots if expression))
        return original(plan)

    hub._check = counting  # type: ignore[method-assign]
    return calls


def test_one_statement_checks_many_streams(database: Database, world: World, issue_token: IssueToken) -> None:
    ticket_a, ticket_b = tickets_of(database, world)
    people = ["customer_a", "customer_a2", "cadmin_a", "customer_b", "cadmin_b", "dispatcher", "admin"]
    tokens = [issue_token(world.people[name]) for name in people for _ in range(5)]  # 5 tabs each

    async def scenario(hub: Hub, bus: InProcessBus) -> None:
        streams = [await hub.open_stream(t) for t in tokens]
        checks = count_checks(hub)
        bus.publish([ev(ticket_a), ev(ticket_b)])
        counts = [len(got) for got in await asyncio.gather(*(received(s, 0.2) for s in streams))]
        assert len(checks) == 1  # one statement for 35 streams and 2 tickets
        # dispatcher and admin share one predicate (scope "all" in one tenant)
        assert checks[0] == len(people) - 1
        assert sum(counts) == 5 * (1 + 0 + 1 + 1 + 1 + 2 + 2)

    with_hub(database, scenario)


def test_duplicates_are_dropped_and_staff_only_events_skip_customers(
    database: Database, world: World, issue_token: IssueToken
) -> None:
    ticket, _ = tickets_of(database, world)
    customer, dispatcher = issue_token(world.customer_a), issue_token(world.dispatcher)

    async def scenario(hub: Hub, bus: InProcessBus) -> None:
        mine, staff = await hub.open_stream(customer), await hub.open_stream(dispatcher)
        event = ev(ticket)
        bus.publish([event])
        bus.publish([event])  # the outbox consumer re-publishing what the commit hook sent
        internal = ev(ticket, "ticket.message_posted", staff_only=True)
        bus.publish([internal])
        assert await received(mine) == [event]
        assert await received(staff) == [event, internal]

    with_hub(database, scenario)


def test_a_full_queue_drops_the_oldest_and_asks_for_a_resync(
    database: Database, world: World, issue_token: IssueToken
) -> None:
    ticket, _ = tickets_of(database, world)
    token = issue_token(world.customer_a)

    async def scenario(hub: Hub, bus: InProcessBus) -> None:
        stream = await hub.open_stream(token)
        events = [ev(ticket, "ticket.work_added") for _ in range(6)]
        for event in events:
            bus.publish([event])
            await asyncio.sleep(0.02)
        assert stream.pending == 3 and stream.dropped == 3
        assert await received(stream) == [RESYNC, *events[3:]]

    with_hub(database, scenario, queue_size=3)


def test_bus_resync_reaches_every_stream(database: Database, world: World, issue_token: IssueToken) -> None:
    tokens = [issue_token(world.customer_a), issue_token(world.dispatcher)]

    async def scenario(hub: Hub, bus: InProcessBus) -> None:
        streams = [await hub.open_stream(t) for t in tokens]
        bus.publish([RESYNC])
        for stream in streams:
            assert await received(stream) == [RESYNC]

    with_hub(database, scenario)


def test_streams_end_when_the_session_is_revoked(
    database: Database, world: World, issue_token: IssueToken
) -> None:
    ticket, _ = tickets_of(database, world)
    token = issue_token(world.customer_a)

    async def scenario(hub: Hub, bus: InProcessBus) -> None:
        stream = await hub.open_stream(token)
        with database.session(write=True) as s:
            revoke_all_sessions(s, world.customer_a.actor.account_id)
        await hub.revalidate_due(force=True)
        bus.publish([ev(ticket)])
        assert await received(stream) == []  # closed: the generator ends, nothing is sent
        assert stream.closed and hub.stream_count == 0

    with_hub(database, scenario)


def test_a_role_change_is_picked_up_by_the_periodic_recheck(
    database: Database, world: World, issue_token: IssueToken
) -> None:
    """customer_a2 becomes a customer admin: company tickets become visible without reconnecting."""
    from fixflow.accounts.models import MemberRole, Role

    ticket, _ = tickets_of(database, world)
    token = issue_token(world.customer_a2)

    async def scenario(hub: Hub, bus: InProcessBus) -> None:
        stream = await hub.open_stream(token)
        bus.publish([ev(ticket)])
        assert await received(stream) == []
        with database.session(write=True) as s:
            role = s.scalar(
                select(Role).where(Role.tenant_id == world.tenant_id, Role.code == "customer_admin")
            )
            assert role is not None
            s.add(MemberRole(tenant_id=world.tenant_id, member_id=world.customer_a2.id, role_id=role.id))
        await hub.revalidate_due(force=True)
        bus.publish([ev(ticket)])
        assert len(await received(stream)) == 1

    with_hub(database, scenario)


def test_unknown_token_is_refused(database: Database) -> None:
    from fixflow.core.errors import Unauthenticated

    async def scenario(hub: Hub, bus: InProcessBus) -> None:
        with pytest.raises(Unauthenticated):
            await hub.open_stream("not-a-token")
        assert hub.stream_count == 0

    with_hub(database, scenario)


def test_stream_sessions_are_real(database: Database, world: World, issue_token: IssueToken) -> None:
    token = issue_token(world.customer_a, kind="web")
    with database.session() as s:
        assert s.scalar(select(AuthSession.kind).where(AuthSession.member_id == world.customer_a.id)) == "web"

    async def scenario(hub: Hub, bus: InProcessBus) -> None:
        stream = await hub.open_stream(token)
        assert stream.actor.member_id == world.customer_a.id
        hub.close_stream(stream)
        assert hub.stream_count == 0

    with_hub(database, scenario)
