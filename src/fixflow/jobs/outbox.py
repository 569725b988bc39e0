"""Writing events and jobs inside the caller's transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.core.db import utcnow
from fixflow.jobs.models import Job, OutboxEvent


def emit_event(
    session: Session,
    *,
    tenant_id: int,
    kind: str,
    ticket_id: int | None = None,
    actor_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> OutboxEvent:
    event = OutboxEvent(
        tenant_id=tenant_id, kind=kind, ticket_id=ticket_id, actor_id=actor_id, payload=payload or {}
    )
    session.add(event)
    return event


def schedule_job(
    session: Session,
    *,
    kind: str,
    payload: dict[str, Any],
    tenant_id: int | None = None,
    run_at: dt.datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 8,
) -> Job | None:
    """Queue a job; with a ``dedupe_key`` already queued this is a no-op and returns None."""
    if dedupe_key is not None:
        existing = session.scalar(select(Job.id).where(Job.dedupe_key == dedupe_key))
        if existing is not None:
            return None
    job = Job(
        tenant_id=tenant_id,
        kind=kind,
        payload=payload,
        run_at=run_at or utcnow(),
        dedupe_key=dedupe_key,
        max_attempts=max_attempts,
    )
    session.add(job)
    return job
