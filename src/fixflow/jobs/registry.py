"""Named job handlers and outbox consumers; features register here instead of the worker knowing them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from fixflow.jobs.models import OutboxEvent

JobHandler = Callable[[Session, dict[str, Any]], None]
EventConsumer = Callable[[Session, OutboxEvent], None]
PeriodicTask = Callable[[Session], None]

JOB_HANDLERS: dict[str, JobHandler] = {}
EVENT_CONSUMERS: list[EventConsumer] = []
PERIODIC_TASKS: dict[str, tuple[float, PeriodicTask]] = {}


def job_handler(kind: str) -> Callable[[JobHandler], JobHandler]:
    def register(fn: JobHandler) -> JobHandler:
        JOB_HANDLERS[kind] = fn
        return fn

    return register


def event_consumer(fn: EventConsumer) -> EventConsumer:
    EVENT_CONSUMERS.append(fn)
    return fn


def periodic(name: str, every_seconds: float) -> Callable[[PeriodicTask], PeriodicTask]:
    def register(fn: PeriodicTask) -> PeriodicTask:
        PERIODIC_TASKS[name] = (every_seconds, fn)
        return fn

    return register
