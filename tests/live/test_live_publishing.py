"""Publishing: the commit hook sends events the moment they commit; the outbox consumer re-sends."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from builders import World, make_ticket
from fixflow.core.db import Database
from fixflow.jobs.models import OutboxEvent
from fixflow.jobs.outbox import emit_event
from fixflow.jobs.registry import EVENT_CONSUMERS
from fixflow.jobs.worker import dispatch_outbox
from fixflow.live import bus as live_bus
from fixflow.live.bus import LiveEvent
from fixflow.live.publishing import live_event_from
from fixflow.live.tasks import republish_live


class Recorder:
    """A bus that records what is published (publishing is synchronous in the committing thread)."""

    def __init__(self) -> None:
        self.events: list[LiveEvent] = []

    def publish(self, events: Sequence[LiveEvent]) -> None:
        self.events.extend(events)

    async def subscribe(self, sink: object) -> object:  # pragma: no cover - not used
        raise NotImplementedError

    def close(self) -> None:
        pass

    def for_ticket(self, ticket_id: int) -> list[LiveEvent]:
        return [e for e in self.events if e.ticket_id == ticket_id]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    previous = live_bus._current
    rec = Recorder()
    live_bus.set_bus(rec)  # type: ignore[arg-type]
    try:
        yield rec
    finally:
        live_bus.set_bus(previous)


def test_committed_events_are_published_at_commit(
    database: Database, world: World, recorder: Recorder
) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
        assert recorder.for_ticket(ticket.id) == []  # nothing before the commit
    published = recorder.for_ticket(ticket.id)
    assert [e.kind for e in published] == ["ticket.created"]
    event = published[0]
    assert event.tenant_id == world.tenant_id and event.event_id > 0 and event.at > 0


def test_rolled_back_events_are_never_published(database: Database, world: World, recorder: Recorder) -> None:
    with pytest.raises(RuntimeError), database.session(write=True) as s:
        ticket = make_ticket(s, world)
        ticket_id = ticket.id
        raise RuntimeError("the request failed after writing")
    assert recorder.for_ticket(ticket_id) == []


def test_events_without_a_ticket_are_not_live(database: Database, world: World, recorder: Recorder) -> None:
    with database.session(write=True) as s:
        emit_event(s, tenant_id=world.tenant_id, kind="member.created")
    assert all(e.kind != "member.created" for e in recorder.events)


def test_internal_channel_events_are_marked_staff_only() -> None:
    row = OutboxEvent(
        id=5, tenant_id=1, kind="ticket.message_posted", ticket_id=9, payload={"channel": "internal"}
    )
    live = live_event_from(row)
    assert live is not None and live.staff_only
    row.payload = {"channel": "customer"}
    live = live_event_from(row)
    assert live is not None and not live.staff_only


def test_outbox_consumer_republishes_after_the_dispatch_commits(
    database: Database, world: World, recorder: Recorder
) -> None:
    """The safety net: a process that committed but never published (crash, bus down)."""
    assert republish_live in EVENT_CONSUMERS
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
    recorder.events.clear()  # as if the commit hook's publish had been lost
    while dispatch_outbox(database):
        pass
    assert [e.kind for e in recorder.for_ticket(ticket.id)] == ["ticket.created"]
