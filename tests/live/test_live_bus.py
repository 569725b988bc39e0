"""The bus: in-process fan-out across threads, Redis pub/sub across "processes" (bus instances)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest
from livetools import REDIS_URL, private_channel

from fixflow.live.bus import RESYNC, InProcessBus, LiveEvent, RedisBus, decode_batch, encode_batch


@pytest.fixture
def redis_channel() -> str:
    return private_channel()


def event(n: int, **kw: object) -> LiveEvent:
    return LiveEvent(tenant_id=1, ticket_id=100 + n, kind="ticket.updated", event_id=n, **kw)  # type: ignore[arg-type]


class Collector:
    def __init__(self) -> None:
        self.events: list[LiveEvent] = []
        self.arrived = asyncio.Event()

    def __call__(self, batch: Sequence[LiveEvent]) -> None:
        self.events.extend(batch)
        self.arrived.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[LiveEvent]:
        async def until() -> None:
            while len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(until(), timeout)
        return self.events


def test_wire_format_round_trips() -> None:
    original = [event(1, at=12.5, staff_only=True), event(2)]
    assert decode_batch(encode_batch(original)) == original
    assert decode_batch(b'{"not": "a list"}') == []


def test_in_process_bus_delivers_from_other_threads_to_every_subscriber() -> None:
    bus = InProcessBus()

    async def scenario() -> None:
        first, second = Collector(), Collector()
        unsubscribe_first = await bus.subscribe(first)
        await bus.subscribe(second)
        publisher = threading.Thread(target=bus.publish, args=([event(1), event(2)],))
        publisher.start()
        publisher.join()
        assert [e.event_id for e in await first.wait_for(2)] == [1, 2]
        assert [e.event_id for e in await second.wait_for(2)] == [1, 2]
        await unsubscribe_first()
        bus.publish([event(3)])
        await second.wait_for(3)
        assert [e.event_id for e in first.events] == [1, 2]

    asyncio.run(scenario())


def test_in_process_publish_without_subscribers_is_a_no_op() -> None:
    InProcessBus().publish([event(1)])


def test_redis_bus_reaches_every_subscribed_process(redis_channel: str) -> None:
    """Two buses stand for two server processes; a third publishes (e.g. the worker)."""
    server_a, server_b, worker = (RedisBus(REDIS_URL, redis_channel) for _ in range(3))

    async def scenario() -> None:
        got_a, got_b = Collector(), Collector()
        stop_a = await server_a.subscribe(got_a)
        stop_b = await server_b.subscribe(got_b)
        try:
            worker.publish([event(1), event(2, staff_only=True)])
            assert [e.event_id for e in await got_a.wait_for(2)] == [1, 2]
            assert (await got_b.wait_for(2))[1].staff_only is True
        finally:
            await stop_a()
            await stop_b()

    try:
        asyncio.run(scenario())
    finally:
        for bus in (server_a, server_b, worker):
            bus.close()


def test_redis_bus_resyncs_after_losing_its_subscription(redis_channel: str) -> None:
    import redis

    bus, publisher = RedisBus(REDIS_URL, redis_channel), RedisBus(REDIS_URL, redis_channel)
    admin = redis.Redis.from_url(REDIS_URL)

    async def scenario() -> None:
        got = Collector()
        stop = await bus.subscribe(got)
        try:
            killed = admin.client_kill_filter(
                _type="pubsub", skipme=True, _id=_subscriber_id(admin, bus.client_name)
            )
            assert killed == 1
            await got.wait_for(1)
            assert got.events[0] == RESYNC  # what was published meanwhile is unknown: refresh all
            publisher.publish([event(7)])
            await got.wait_for(2)
            assert got.events[1].event_id == 7
        finally:
            await stop()

    try:
        asyncio.run(scenario())
    finally:
        bus.close()
        publisher.close()
        admin.close()


def _subscriber_id(admin: object, name: str) -> str:
    clients = admin.client_list(_type="pubsub")  # type: ignore[attr-defined]
    ids = [c["id"] for c in clients if c.get("name") == name]
    if len(ids) != 1:
        pytest.fail(f"expected one subscriber connection named {name}, found {len(ids)}")
    return str(ids[0])


def test_redis_bus_survives_an_unreachable_server() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0", "fixflow-test:nowhere")
    try:
        bus.publish([event(1)])  # queued; the sender thread logs the failure, the caller never waits
    finally:
        bus.close()
