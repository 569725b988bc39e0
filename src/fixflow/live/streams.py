"""One open live-update connection: its actor, compiled visibility and bounded event queue."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

from fixflow.accounts.actor import Actor
from fixflow.live.bus import RESYNC, LiveEvent


class Stream:
    """One open SSE connection: its actor, its compiled visibility and a bounded queue."""

    def __init__(self, actor: Actor, token: str, expression: str, *, queue_size: int, revalidate_at: float):
        self.actor = actor
        self.token = token
        self.expression = expression
        self.revalidate_at = revalidate_at
        self.closed = False
        self.dropped = 0
        self._max = queue_size
        self._queue: deque[LiveEvent] = deque()
        self._resync = False
        self._wake = asyncio.Event()

    def push(self, event: LiveEvent) -> None:
        if event.is_resync:
            self._queue.clear()  # the client re-fetches everything anyway
            self._resync = True
        else:
            if len(self._queue) >= self._max:
                self._queue.popleft()
                self.dropped += 1
                self._resync = True  # the client missed something: tell it to refresh everything
            self._queue.append(event)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def events(self) -> AsyncIterator[LiveEvent]:
        """Queued events in order (a resync first when one is due) until the stream is closed."""
        while True:
            if not self._queue and not self._resync and not self.closed:
                self._wake.clear()
                await self._wake.wait()
            if self._resync:
                self._resync = False
                yield RESYNC
            while self._queue:
                yield self._queue.popleft()
            if self.closed:
                return
