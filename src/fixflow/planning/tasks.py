"""Background generation of planned tickets.

The worker hands a task one session, committed when the task returns, so each run does one bounded
batch (`generate_batch`). When more is due (a backlog after downtime, a large plan) the batch queues a
continuation job in the same transaction; the worker claims it on its next pass, so a backlog drains at
full speed while every transaction stays small. A crash rolls back the batch and its continuation; the
periodic tick (or the job's expired lease) starts over from the committed state.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.jobs.models import Job
from fixflow.jobs.outbox import schedule_job
from fixflow.jobs.registry import job_handler, periodic
from fixflow.planning.generation import BATCH_SIZE, generate_batch

GENERATE_JOB = "generate_planned_tickets"
BATCH = BATCH_SIZE


def _queue_continuation(session: Session, payload: dict[str, Any], *, unless_pending: bool) -> None:
    """``unless_pending``: the periodic tick does not start a second chain while one is queued or
    running (a running job is still ``pending`` until it finishes)."""
    if unless_pending:
        queued = session.scalar(
            select(Job.id).where(Job.kind == GENERATE_JOB, Job.status == "pending").limit(1)
        )
        if queued is not None:
            return
    schedule_job(session, kind=GENERATE_JOB, payload=payload)


def request_generation(session: Session, *, plan_id: int | None = None, tenant_id: int | None = None) -> None:
    """Queue a manual run (everything due, one tenant's or one plan's); a worker takes it within a second."""
    payload = {k: v for k, v in (("plan_id", plan_id), ("tenant_id", tenant_id)) if v is not None}
    schedule_job(session, kind=GENERATE_JOB, payload=payload, tenant_id=tenant_id)


@periodic(GENERATE_JOB, every_seconds=60)
def generate_planned_tickets(session: Session) -> None:
    if generate_batch(session, limit=BATCH).more:
        _queue_continuation(session, {}, unless_pending=True)


@job_handler(GENERATE_JOB)
def run_generation_job(session: Session, payload: dict[str, Any]) -> None:
    """Payload: optional ``plan_id`` and ``tenant_id`` to narrow the run."""
    plan_id, tenant_id = payload.get("plan_id"), payload.get("tenant_id")
    result = generate_batch(
        session,
        limit=BATCH,
        plan_id=int(plan_id) if plan_id is not None else None,
        tenant_id=int(tenant_id) if tenant_id is not None else None,
    )
    if result.more:
        _queue_continuation(session, payload, unless_pending=False)
