"""The background worker: claims due jobs, delivers outbox events, runs periodic tasks.

Jobs are claimed with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock on SQLite), so
several workers never run one job at once, and a worker killed mid-job leaves it to be re-claimed
when the lease expires. Handlers must be idempotent.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import select, update

from fixflow.core.db import Database, utcnow
from fixflow.jobs.models import Job, OutboxEvent
from fixflow.jobs.registry import EVENT_CONSUMERS, JOB_HANDLERS, PERIODIC_TASKS

log = logging.getLogger("fixflow.worker")

LEASE = dt.timedelta(minutes=5)
BATCH = 50


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(3600, 2 ** min(attempts, 12)))


def _skip_locked(db: Database) -> bool:
    return db.dialect == "postgresql"


def claim_due_jobs(db: Database, worker_id: str, *, limit: int = BATCH) -> list[int]:
    now = utcnow()
    with db.session(write=True) as session:
        stmt = (
            select(Job.id)
            .where(
                Job.status == "pending",
                Job.run_at <= now,
                (Job.locked_until.is_(None)) | (Job.locked_until < now),
            )
            .order_by(Job.run_at, Job.id)
            .limit(limit)
        )
        if _skip_locked(db):
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list(session.scalars(stmt))
        if ids:
            session.execute(
                update(Job)
                .where(Job.id.in_(ids))
                .values(locked_until=now + LEASE, locked_by=worker_id, attempts=Job.attempts + 1)
            )
    return ids


def run_job(db: Database, job_id: int) -> bool:
    """Run one claimed job in its own transaction; on failure, schedule a retry with back-off."""
    try:
        with db.session(write=True) as session:
            job = session.get(Job, job_id)
            if job is None or job.status != "pending":
                return False
            handler = JOB_HANDLERS.get(job.kind)
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind!r}")
            handler(session, dict(job.payload))
            job.status, job.finished_at, job.locked_until = "done", utcnow(), None
        return True
    except Exception as exc:  # a failing job must never stop the worker
        log.warning("job %s failed: %s", job_id, exc, exc_info=True)
        with db.session(write=True) as session:
            job = session.get(Job, job_id)
            if job is not None:
                job.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                job.locked_until = None
                if job.attempts >= job.max_attempts:
                    job.status, job.finished_at = "failed", utcnow()
                else:
                    job.run_at = utcnow() + backoff(job.attempts)
        return False


def dispatch_outbox(db: Database, *, limit: int = 200) -> int:
    """Hand committed events to the consumers (live updates, notifications), then mark them sent."""
    with db.session(write=True) as session:
        stmt = (
            select(OutboxEvent)
            .where(OutboxEvent.dispatched_at.is_(None))
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
        if _skip_locked(db):
            stmt = stmt.with_for_update(skip_locked=True)
        events = list(session.scalars(stmt))
        for event in events:
            for consumer in EVENT_CONSUMERS:
                try:
                    consumer(session, event)
                except Exception:  # one consumer failing must not block the others
                    log.exception("event consumer failed for event %s", event.id)
            event.dispatched_at = utcnow()
    return len(events)


@dataclass
class Worker:
    db: Database
    poll_seconds: float = 1.0
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    )
    _last_periodic: dict[str, float] = field(default_factory=dict)

    def run_once(self) -> int:
        """One pass; returns how much work was done (0 = idle)."""
        done = dispatch_outbox(self.db)
        for job_id in claim_due_jobs(self.db, self.worker_id):
            run_job(self.db, job_id)
            done += 1
        done += self._run_periodic()
        return done

    def _run_periodic(self) -> int:
        ran = 0
        now = time.monotonic()
        for name, (every, task) in PERIODIC_TASKS.items():
            if now - self._last_periodic.get(name, -1e9) < every:
                continue
            self._last_periodic[name] = now
            try:
                with self.db.session(write=True) as session:
                    task(session)
                ran += 1
            except Exception:
                log.exception("periodic task %s failed", name)
        return ran

    def run_until(self, stop: threading.Event) -> None:
        log.info("worker %s started", self.worker_id)
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                log.exception("worker pass failed")
                busy = 0
            if not busy:
                stop.wait(self.poll_seconds)
