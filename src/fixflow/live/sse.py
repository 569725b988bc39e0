"""Serving a hub stream as server-sent events, shared by the API and the app routes.

Wire format (``text/event-stream``):

* ``event: ready`` once, with ``retry: 3000`` (reconnect delay for ``EventSource``);
* ``event: ticket``, ``id: <event id>``, ``data: {"ticket_id", "kind", "event_id", "at"}`` per change
  of a ticket the actor may see (``at``: server publish time, epoch seconds);
* ``event: resync`` when the client may have missed events (queue overflow, reconnect with
  ``Last-Event-ID``, bus reconnect): refresh everything;
* a ``: ping`` comment every 15 s keeps proxies from closing an idle connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache

import orjson
from fastapi import FastAPI, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from fixflow.config import Settings
from fixflow.core.db import Database
from fixflow.live.bus import LOCAL_BUS, LiveEvent, bus_for, get_bus, set_bus
from fixflow.live.hub import Hub
from fixflow.live.streams import Stream

HEARTBEAT_SECONDS = 15
RETRY_MS = 3000
SEND_TIMEOUT_SECONDS = 30


@lru_cache(maxsize=2048)
def to_sse(event: LiveEvent) -> bytes:
    """The wire bytes of an event, encoded once however many streams it goes to."""
    if event.is_resync:
        return ServerSentEvent(data="{}", event="resync").encode()
    data = {"ticket_id": event.ticket_id, "kind": event.kind, "event_id": event.event_id, "at": event.at}
    return ServerSentEvent(data=orjson.dumps(data).decode(), event="ticket", id=str(event.event_id)).encode()


@asynccontextmanager
async def live_lifespan(app: FastAPI) -> AsyncGenerator[None]:
    """Start this process's hub with the app and stop it (closing every stream) on shutdown."""
    await start_hub(app)
    try:
        yield
    finally:
        await stop_hub(app)


async def start_hub(app: FastAPI) -> Hub:
    hub: Hub | None = getattr(app.state, "live_hub", None)
    if hub is not None:
        return hub
    settings: Settings = app.state.settings
    db: Database = app.state.db
    bus = bus_for(settings.redis_url, settings.live_channel)
    set_bus(bus)  # the commit hook and the outbox consumer of this process publish through it
    hub = Hub(db, bus)
    app.state.live_hub = hub
    await hub.start()
    return hub


async def stop_hub(app: FastAPI) -> None:
    hub: Hub | None = getattr(app.state, "live_hub", None)
    if hub is None:
        return
    app.state.live_hub = None
    await hub.stop()
    if hub.bus is not LOCAL_BUS:
        if get_bus() is hub.bus:
            set_bus(None)
        hub.bus.close()


async def event_stream_response(request: Request, token: str) -> EventSourceResponse:
    """Open a stream for the session behind ``token`` (401 if none) and serve it."""
    hub = await start_hub(request.app)  # normally started by the lifespan already
    stream = await hub.open_stream(token)
    resume = bool(request.headers.get("last-event-id"))
    return EventSourceResponse(
        _messages(hub, stream, resume=resume),
        ping=HEARTBEAT_SECONDS,
        send_timeout=SEND_TIMEOUT_SECONDS,
        headers={"Cache-Control": "no-store"},
        background=BackgroundTask(_close, hub, stream),
    )


async def _close(hub: Hub, stream: Stream) -> None:
    """Also run when the generator never started (async, so it stays in the hub's loop thread)."""
    hub.close_stream(stream)


async def _messages(hub: Hub, stream: Stream, *, resume: bool) -> AsyncIterator[ServerSentEvent | bytes]:
    try:
        yield ServerSentEvent(data="{}", event="ready", retry=RETRY_MS)
        if resume:  # a reconnect: whatever happened while we were away is unknown to the client
            yield ServerSentEvent(data="{}", event="resync")
        async for event in stream.events():
            yield to_sse(event)
    finally:
        with contextlib.suppress(Exception):
            hub.close_stream(stream)
