"""The live-update event bus: in-process by default, Redis pub/sub when several processes serve streams.

Publishing is synchronous, thread-safe and never blocks or raises: it is called from request threads
(right after a commit) and from the worker thread. Subscribing is asynchronous: each server process
runs one :class:`~fixflow.live.hub.Hub` in its event loop and subscribes it once.

With the in-process bus only streams of the publishing process are reached, so a deployment with
more than one server process (or a separate ``fixflow worker``) must set ``FIXFLOW_REDIS_URL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

log = logging.getLogger("fixflow.live")

DEFAULT_CHANNEL = "fixflow:live"
RESYNC_KIND = "resync"


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """What a screen needs to know: which ticket changed. Never the change itself (that stays behind
    the visibility check of the page the client re-fetches)."""

    tenant_id: int
    ticket_id: int
    kind: str
    event_id: int
    at: float = 0.0  # wall-clock publish time, for latency measurement only
    #: Events about staff-internal things (the staff chat channel) reach staff streams only.
    staff_only: bool = False

    @property
    def is_resync(self) -> bool:
        return self.kind == RESYNC_KIND

    def to_wire(self) -> dict[str, Any]:
        return {
            "t": self.tenant_id,
            "i": self.ticket_id,
            "k": self.kind,
            "e": self.event_id,
            "a": self.at,
            "s": self.staff_only,
        }

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> LiveEvent:
        return cls(
            int(raw["t"]),
            int(raw["i"]),
            str(raw["k"]),
            int(raw["e"]),
            float(raw.get("a", 0.0)),
            bool(raw.get("s", False)),
        )


#: Sent to every stream of a hub when events may have been lost (e.g. the Redis link dropped).
RESYNC = LiveEvent(tenant_id=0, ticket_id=0, kind=RESYNC_KIND, event_id=0)

Sink = Callable[[Sequence[LiveEvent]], None]
Unsubscribe = Callable[[], Awaitable[None]]


class Bus(Protocol):
    def publish(self, events: Sequence[LiveEvent]) -> None:
        """Hand events to every subscribed hub; thread-safe, non-blocking, never raises."""

    async def subscribe(self, sink: Sink) -> Unsubscribe:
        """Call ``sink`` in the current event loop for every published batch until unsubscribed."""

    def close(self) -> None:
        """Release connections and threads (publishing afterwards is a no-op)."""


class InProcessBus:
    """Fan-out to hubs living in this process, whatever thread publishes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[int, tuple[asyncio.AbstractEventLoop, Sink]] = {}
        self._next = 0

    def publish(self, events: Sequence[LiveEvent]) -> None:
        if not events:
            return
        batch = tuple(events)
        with self._lock:
            targets = list(self._subscribers.values())
        for loop, sink in targets:
            with contextlib.suppress(RuntimeError):  # the loop is closing: nobody is listening
                loop.call_soon_threadsafe(sink, batch)

    async def subscribe(self, sink: Sink) -> Unsubscribe:
        loop = asyncio.get_running_loop()
        with self._lock:
            key = self._next
            self._next += 1
            self._subscribers[key] = (loop, sink)

        async def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(key, None)

        return unsubscribe

    def close(self) -> None:
        with self._lock:
            self._subscribers.clear()


def encode_batch(events: Sequence[LiveEvent]) -> bytes:
    return orjson.dumps([e.to_wire() for e in events])


def decode_batch(data: bytes | str) -> list[LiveEvent]:
    raw = orjson.loads(data)
    return [LiveEvent.from_wire(item) for item in raw] if isinstance(raw, list) else []


class RedisBus:
    """Redis pub/sub on one channel; every server process subscribes, so all of them deliver.

    Publishing goes through a queue drained by one sender thread, so a slow or unreachable Redis
    never delays the request that committed. Pub/sub is fire-and-forget: what is lost while the link
    is down is covered by a ``resync`` sent to every stream when the subscription comes back.
    """

    def __init__(self, url: str, channel: str = DEFAULT_CHANNEL, *, max_pending: int = 10_000) -> None:
        self.url = url
        self.channel = channel
        self._pending: queue.Queue[tuple[LiveEvent, ...] | None] = queue.Queue(maxsize=max_pending)
        self._sender: threading.Thread | None = None
        self._sender_lock = threading.Lock()
        self._closed = False
        # Names the subscriber connection in CLIENT LIST (operators can see which process it is).
        self.client_name = f"fixflow-live-{os.getpid()}-{secrets.token_hex(4)}"

    # -- publishing (any thread) -------------------------------------------------------------
    def publish(self, events: Sequence[LiveEvent]) -> None:
        if not events or self._closed:
            return
        self._ensure_sender()
        try:
            self._pending.put_nowait(tuple(events))
        except queue.Full:
            log.warning("live bus: Redis publish queue full, %d events dropped", len(events))

    def _ensure_sender(self) -> None:
        if self._sender is not None:
            return
        with self._sender_lock:
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_loop, name="fixflow-live-pub", daemon=True)
                self._sender.start()

    def _send_loop(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)
        try:
            while True:
                item = self._pending.get()
                if item is None:
                    return
                batch = list(item)
                while len(batch) < 500:  # coalesce what queued up meanwhile into one PUBLISH
                    try:
                        more = self._pending.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._publish_now(client, batch)
                        return
                    batch.extend(more)
                self._publish_now(client, batch)
        finally:
            client.close()

    def _publish_now(self, client: Any, batch: list[LiveEvent]) -> None:
        try:
            client.publish(self.channel, encode_batch(batch))
        except Exception as exc:  # the outbox re-publishes; the subscriber side resyncs on reconnect
            log.warning("live bus: Redis publish failed: %s", exc)

    # -- subscribing (event loop) -------------------------------------------------------------
    async def subscribe(self, sink: Sink) -> Unsubscribe:
        ready = asyncio.Event()
        task = asyncio.create_task(self._listen(sink, ready), name="fixflow-live-sub")
        # Wait (briefly) for the first SUBSCRIBE so events published right after startup are seen.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), timeout=5)

        async def unsubscribe() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        return unsubscribe

    async def _listen(self, sink: Sink, ready: asyncio.Event) -> None:
        from redis import asyncio as aioredis

        delay = 0.5
        first = True
        while True:
            client = aioredis.Redis.from_url(self.url, client_name=self.client_name)
            pubsub: Any = client.pubsub()  # redis-py's PubSub is only partly typed
            try:
                await pubsub.subscribe(self.channel)
                await self._confirmed(pubsub)
                ready.set()
                if not first:
                    sink((RESYNC,))  # events published while we were away are lost to us
                first, delay = False, 0.5
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is not None and message.get("type") == "message":
                        events = decode_batch(message["data"])
                        if events:
                            sink(events)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live bus: Redis subscription lost (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _confirmed(self, pubsub: Any) -> None:
        """Wait for Redis to acknowledge SUBSCRIBE: only then are publishes guaranteed to reach us."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            message = await pubsub.get_message(timeout=1.0)
            if message is not None and message.get("type") == "subscribe":
                return
        raise TimeoutError("no SUBSCRIBE confirmation from Redis")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._sender is not None:
            with contextlib.suppress(queue.Full):
                self._pending.put_nowait(None)
            self._sender.join(timeout=5)


# -- the process-wide bus used by publishers (commit hook, outbox consumer) ----------------------

LOCAL_BUS = InProcessBus()
_current: Bus | None = None
_current_lock = threading.Lock()


def bus_for(redis_url: str, channel: str = DEFAULT_CHANNEL) -> Bus:
    return RedisBus(redis_url, channel) if redis_url else LOCAL_BUS


def set_bus(bus: Bus | None) -> None:
    global _current
    with _current_lock:
        _current = bus


def get_bus() -> Bus:
    """The bus of this process: the one the app installed, else one built from the environment
    (a standalone ``fixflow worker`` has no app)."""
    global _current
    bus = _current
    if bus is not None:
        return bus
    with _current_lock:
        if _current is None:
            from fixflow.config import get_settings

            settings = get_settings()
            _current = bus_for(settings.redis_url, settings.live_channel)
        return _current


def publish(events: Sequence[LiveEvent]) -> None:
    try:
        stamped = [e if e.at else _stamp(e) for e in events]
        get_bus().publish(stamped)
    except Exception:  # live updates are best-effort; the action that caused them has committed
        log.exception("live bus: publish failed")


def _stamp(event: LiveEvent) -> LiveEvent:
    return dataclasses.replace(event, at=time.time())
